#include "stages/io/register.h"

#include "stages/io/source_files.h"
#include "stages/io/source_npy.h"
#include "stages/io/source_text.h"
#include "stages/io/write_csv.h"
#include "stages/io/write_heatmap.h"
#include "stages/io/write_jsonl.h"
#include "stages/io/write_npy.h"
#include "stages/io/write_png.h"

namespace embedflow {

void register_io_stages(Registry& registry) {
  add_stage<SourceFiles>(registry, source_files_schema());
  add_stage<SourceText>(registry, source_text_schema());
  add_stage<SourceNpy>(registry, source_npy_schema());
  add_stage<WriteNpy>(registry, write_npy_schema());
  add_stage<WriteJsonl>(registry, write_jsonl_schema());
  add_stage<WriteCsv>(registry, write_csv_schema());
  add_stage<WritePngStage>(registry, write_png_schema());
  add_stage<WriteHeatmap>(registry, write_heatmap_schema());
}

}  // namespace embedflow
