#include "stages/text/encode_text.h"

#include "stages/common/encoder_params.h"

namespace embedflow {

StageSchema encode_text_schema() {
  StageSchema s;
  s.type = "encode.text";
  s.kind = StageKind::Batch;
  s.summary =
      "Embed sentences with a sentence-transformers model: BERT, RoBERTa, XLM-RoBERTa, "
      "DistilBERT or MPNet (all-MiniLM, all-mpnet, BGE, E5, GTE, multilingual MiniLM, LaBSE).";
  s.doc =
      "Text → Embedding f32 `[D]`, the numbers `SentenceTransformer(model).encode(texts)` "
      "gives.\n\n"
      "`model` is a sentence-transformers folder as published on the Hugging Face hub "
      "(`modules.json`, `sentence_bert_config.json`, `config.json`, `model.safetensors`, "
      "`tokenizer.json` or `vocab.txt`, `tokenizer_config.json`, `1_Pooling/config.json`, "
      "optional `2_Dense` modules and `Normalize`) or a bare Hugging Face model folder (pooling "
      "and normalisation then come from the params; default mean, not normalised). config.json's "
      "`model_type` picks the family: `bert` (MiniLM, BGE, E5, GTE, LaBSE), `roberta` "
      "(all-distilroberta-v1), `xlm-roberta` (multilingual-e5), `distilbert` "
      "(msmarco-distilbert, distiluse) or `mpnet` (all-mpnet-base-v2); weight keys with or "
      "without the architecture's prefix (`bert.`, `roberta.`, …) are accepted. Other "
      "architectures and "
      "modules, missing tokenizer files and mis-shaped tensors are reported by file and name.\n\n"
      "Prompts: `prompt` puts a text in front of every input (E5's `query: `); `prompt_name` "
      "picks one of config_sentence_transformers.json's prompts (BGE, E5, GTE publish `query` "
      "and `passage`); with neither, the file's default_prompt_name applies, as "
      "sentence-transformers does.\n\n"
      "Parity: each text is stripped of surrounding whitespace (Python `str.strip()`, as "
      "sentence-transformers does), tokenised with the folder's tokenizer.json exactly as "
      "Hugging Face `tokenizers` does (special tokens written in the text included; "
      "tokenizer_config.json overrides lower-casing, accents and CJK spacing as "
      "BertTokenizerFast does; `text.tokenize` shows the ids), truncated to `max_seq_length` "
      "tokens including the special tokens; an empty text is `[CLS] [SEP]` (`<s> </s>`). The "
      "encoder runs in fp32 (tests: max |Δ| ≤ 1e-5 per family against independent references "
      "written from transformers' modeling code). Text that is not "
      "valid UTF-8 fails that item only.\n\n"
      "Batching: sequences are packed without padding (one GEMM over all real tokens of the "
      "batch, attention per sequence), so the order and mix of lengths in a batch cost nothing; "
      "a larger `batch_size` gives the GEMMs more rows (faster, up to a few hundred tokens per "
      "batch) at the price of latency and memory. `precision: int8` quantises the Linear layers "
      "dynamically (per-channel int8 weights, per-token activations in 8 bits on CPUs with VNNI "
      "or AMX and 7 elsewhere, oneDNN's u8·s8 GEMM or AMX matmul, each int32 result dequantised "
      "inside the pass that consumes it): ~1.7× the fp32 encoder on an AVX2 CPU, cosine to the "
      "fp32 embeddings ≥ 0.9999 on the bench sentences. `precision: bf16` rounds weights and "
      "activations to bfloat16 (oneDNN's bf16 matmul on AMX or AVX512-BF16 where the CPU has "
      "them, ~1.65× fp32 on AVX512-BF16; elsewhere emulated at fp32's speed). bench/peers "
      "measures each "
      "on your machine.";
  s.inputs = {{"in", {Kind::Text}, "sentences (source.text)"}};
  s.output = Kind::Embedding;
  s.params = {
      ParamSpec::model_path("model").require().describe(
          "sentence-transformers or Hugging Face model folder."),
      ParamSpec::integer("max_seq_length", 0)
          .range(0, 8192)
          .describe("Tokens per text incl. [CLS]/[SEP]; 0: sentence_bert_config.json's "
                    "max_seq_length (else the model's position count)."),
      ParamSpec::enumeration(
          "pooling", "model",
          {"model", "cls", "mean", "max", "mean_sqrt_len", "weightedmean", "lasttoken"})
          .describe("Token pooling; model: as 1_Pooling/config.json says (mean for a bare "
                    "transformers folder)."),
      ParamSpec::enumeration("normalize", "model", {"model", "true", "false"})
          .describe("L2-normalise each embedding; model: when the folder has a Normalize "
                    "module."),
      ParamSpec::string("prompt", "")
          .describe("Text put in front of every input (sentence-transformers' `prompt`)."),
      ParamSpec::string("prompt_name", "")
          .describe("A prompt of config_sentence_transformers.json by name (e.g. query); "
                    "empty: the file's default_prompt_name, if any."),
      precision_param(""),
  };
  s.default_concurrency = 1;
  s.max_concurrency = 0;
  s.default_batch_size = 32;
  s.uses_model_threads = true;
  return s;
}

}  // namespace embedflow
