// `embedflow slurm` writes a Slurm array script whose task I runs `embedflow run PIPELINE
// --shard I/N`, submits it, and with --wait merges the shards when the array is done.
// `embedflow k8s` prints the Kubernetes Indexed Job that does the same (JOB_COMPLETION_INDEX).
//
// Exit codes: 0 submitted (or, with --wait, every task succeeded and the merge is complete);
// 1 a task failed, sbatch failed or the merge found missing shards; 2 the pipeline or the
// command line is invalid.
#include "apps/embedflow/commands.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>

#include "embedflow/atomic_file.h"
#include "embedflow/config.h"
#include "embedflow/executor.h"
#include "embedflow/jobs/batch_job.h"

namespace embedflow::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kScaleDoc = "docs/scale.md";

// What both schedulers need: the pipeline, how many shards, the --set overrides.
struct ShardedJob {
  std::string file;
  int shards = 0;
  std::vector<std::string> overrides;
};

struct SlurmOptions {
  ShardedJob job;
  std::string partition, time, mem, account;
  int cpus_per_task = 1;
  bool dry_run = false;
  bool wait = false;
};

struct K8sOptions {
  ShardedJob job;
  std::string image, memory, pvc, name, mount_path, binary = "embedflow", workdir = "/work";
  std::vector<std::string> env;  // KEY=VALUE for the container (and for ${…} when validating)
  int cpus = 1;
  int parallelism = 0;  // 0 = all shards at once
  int retries = 3;
};

// ---- small helpers ------------------------------------------------------------------------

std::string self_exe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "embedflow" : p.string();
}

// Single-quotes `s` for bash unless it is made only of characters that need no quoting.
std::string shell_quote(const std::string& s) {
  static const std::string safe =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%";
  if (!s.empty() && s.find_first_not_of(safe) == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A YAML double-quoted scalar (JSON string syntax is valid YAML).
std::string yaml_quote(const std::string& s) {
  return Json(s).dump();
}

std::string pipeline_name(const PipelineConfig& cfg, const std::string& file) {
  return cfg.name.empty() ? fs::path(file).stem().string() : cfg.name;
}

// A Kubernetes object name / label value: lowercase alphanumerics and '-', at most 63 chars.
std::string dns_label(const std::string& s) {
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    out += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-';
  }
  while (!out.empty() && out.front() == '-') out.erase(out.begin());
  if (out.size() > 63) out.resize(63);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "embedflow" : out;
}

std::string find_on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    fs::path candidate = fs::path(dir.empty() ? "." : dir) / tool;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

// Runs argv without a shell. Each line it prints on stdout goes to `on_line` (stdout is
// inherited when on_line is empty); stderr is inherited. Returns its exit status, 128+signal
// when killed, -1 when it could not be started.
int run_process(const std::vector<std::string>& argv,
                const std::function<void(const std::string&)>& on_line = {}) {
  int fds[2] = {-1, -1};
  if (on_line && ::pipe(fds) != 0) return -1;
  std::cout.flush();
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (on_line) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "error: cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  if (on_line) {
    ::close(fds[1]);
    std::string pending;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buf, static_cast<size_t>(n));
      for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        on_line(pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
    }
    if (!pending.empty()) on_line(pending);
    ::close(fds[0]);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// The pipeline, validated as `embedflow run` would load it. ConfigErrors go up to main(),
// which prints every diagnostic and exits 2.
PipelineConfig load_for_cluster(const ShardedJob& job, const Registry& registry,
                                const std::map<std::string, std::string>& env = {}) {
  LoadOptions load;
  load.overrides = job.overrides;
  load.env = env;
  return load_pipeline_file(job.file, registry, load);
}

// Reduce stages (score.cosine) combine every item of the run: inside one shard they would
// silently see 1/N of the data, so a sharded run of them is refused.
bool refuse_cross_shard_stages(const PipelineConfig& cfg) {
  std::vector<const StageConfig*> reducers;
  for (const auto& s : cfg.stages)
    if (s.stage_type && s.stage_type->schema.kind == StageKind::Reduce) reducers.push_back(&s);
  if (reducers.empty()) return false;
  for (const auto* s : reducers)
    std::cerr << cfg.file << ":" << s->where.line << ": error: stage '" << s->id << "' (" << s->type
              << ") combines items across the whole run; in a shard it would see only "
              << "that shard's items\n";
  std::cerr << "  run the per-item stages sharded, then the cross-shard step as a second job over "
               "the merged outputs (see "
            << kScaleDoc << ", \"Cross-shard steps\")\n";
  return true;
}

// Shard folders of an earlier run with a different shard count would be mixed into the merge.
void warn_about_other_shard_counts(const fs::path& out, int shards) {
  std::error_code ec;
  if (!fs::is_directory(out, ec)) return;
  static const std::regex shard_dir(R"(shard-(\d+)-of-(\d+))");
  std::map<std::string, int> others;
  for (const auto& entry : fs::directory_iterator(out, ec)) {
    std::smatch m;
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && std::regex_match(name, m, shard_dir) && std::stoi(m[2]) != shards)
      ++others[m[2]];
  }
  for (const auto& [n, count] : others)
    std::cerr << "warning: " << out.string() << " holds " << count << " shard folder(s) of an "
              << "earlier " << n << "-shard run (shard-*-of-" << n << "); remove them before "
              << "merging this " << shards << "-shard run\n";
}

// CLI11 check: a value that goes on an `#SBATCH` line or into YAML must be one token.
CLI::Validator single_token(const std::string& what) {
  return CLI::Validator(
      [what](std::string& v) -> std::string {
        if (v.empty()) return what + " is empty";
        for (char c : v)
          if (std::isspace(static_cast<unsigned char>(c)) ||
              std::iscntrl(static_cast<unsigned char>(c)))
            return what + " '" + v + "' contains whitespace or a control character";
        return "";
      },
      "");
}

// ---- Slurm --------------------------------------------------------------------------------

struct SlurmPaths {
  std::string exe, pipeline, out, submit_dir, script, logs;
};

std::string render_sbatch(const SlurmOptions& o, const std::string& name, const SlurmPaths& p) {
  const int n = o.job.shards;
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# embedflow pipeline '" << name << "' as a Slurm array of " << n << " shard"
    << (n == 1 ? "" : "s") << ", written by `embedflow slurm`.\n"
    << "# Task I runs shard I/" << n << " and writes " << p.out << "/shard-I-of-" << n << "/.\n"
    << "# Rerun some shards: sbatch --array=2,5 " << p.script << "\n"
    << "# Then assemble the outputs: " << p.exe << " merge " << p.out << "\n"
    << "#SBATCH --job-name=" << dns_label("embedflow-" + name) << "\n"
    << "#SBATCH --array=0-" << n - 1 << "\n"
    << "#SBATCH --ntasks=1\n"
    << "#SBATCH --requeue\n"
    << "#SBATCH --cpus-per-task=" << o.cpus_per_task << "\n"
    << "#SBATCH --output=" << p.logs << "/%A_%a.log\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
  if (!o.time.empty()) s << "#SBATCH --time=" << o.time << "\n";
  if (!o.mem.empty()) s << "#SBATCH --mem=" << o.mem << "\n";
  if (!o.account.empty()) s << "#SBATCH --account=" << o.account << "\n";
  // The shard is given explicitly (not left to SLURM_ARRAY_TASK_COUNT) so that resubmitting a
  // subset with --array=2,5 still runs shards 2 and 5 of N. --resume: a requeued or resubmitted
  // task continues its shard's journal instead of redoing it (a first run starts a fresh one).
  s << "set -euo pipefail\n";
  s << "cd " << shell_quote(p.submit_dir) << "\n";
  s << "exec " << shell_quote(p.exe) << " run " << shell_quote(p.pipeline) << " \\\n";
  s << "  --shard \"${SLURM_ARRAY_TASK_ID}/" << n << "\" \\\n";
  s << "  --threads \"${SLURM_CPUS_PER_TASK:-" << o.cpus_per_task << "}\" \\\n";
  s << "  --resume --progress off";
  for (const auto& kv : o.job.overrides) s << " \\\n  --set " << shell_quote(kv);
  s << "\n";
  return s.str();
}

struct TaskState {
  std::string state = "UNKNOWN", exit_code;
};

// Per-task states of an array job from `scontrol show job -o` (no accounting database needed;
// Slurm keeps finished jobs for MinJobAge seconds). Empty when scontrol cannot tell.
std::map<int, TaskState> slurm_task_states(const std::string& job_id) {
  std::map<int, TaskState> tasks;
  if (find_on_path("scontrol").empty()) return tasks;
  run_process({"scontrol", "show", "job", "-o", job_id}, [&](const std::string& line) {
    std::istringstream words(line);
    std::string word, task;
    TaskState t;
    while (words >> word) {
      auto eq = word.find('=');
      if (eq == std::string::npos) continue;
      std::string key = word.substr(0, eq), value = word.substr(eq + 1);
      if (key == "ArrayTaskId") task = value;
      if (key == "JobState") t.state = value;
      if (key == "ExitCode") t.exit_code = value;
    }
    // A pending remainder is listed as a range ("3-7"); after --wait there is none.
    if (!task.empty() && task.find_first_not_of("0123456789") == std::string::npos)
      tasks[std::stoi(task)] = t;
  });
  return tasks;
}

std::string tail_lines(const std::string& path, size_t n) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) {
    lines.push_back(line);
    if (lines.size() > n) lines.erase(lines.begin());
  }
  std::string out;
  for (const auto& l : lines) out += "    | " + l + "\n";
  return out;
}

// Names every shard that did not complete, with its log. Returns how many failed.
int report_failed_tasks(const std::string& job_id, int rc, const SlurmOptions& o,
                        const SlurmPaths& p) {
  const int n = o.job.shards;
  std::map<int, TaskState> states = slurm_task_states(job_id);
  std::vector<int> failed;
  for (int i = 0; i < n; ++i) {
    auto it = states.find(i);
    // One shard is a plain run (ShardSpec 0/1 is inactive): no shard folder, no marker.
    const jobs::ShardSpec shard{i, n};
    bool success_marker =
        !shard.active() || fs::exists(fs::path(p.out) / shard.dir_name() / "_SUCCESS.json");
    bool task_ok = it == states.end()
                       ? rc == 0
                       : it->second.state == "COMPLETED" &&
                             (it->second.exit_code.empty() || it->second.exit_code == "0:0");
    if (task_ok && success_marker) continue;
    failed.push_back(i);
    std::string log = p.logs + "/" + job_id + "_" + std::to_string(i) + ".log";
    std::cerr << "error: shard " << i << " (task " << job_id << "_" << i << "): ";
    if (it != states.end())
      std::cerr << it->second.state
                << (it->second.exit_code.empty() ? "" : ", exit " + it->second.exit_code);
    else
      std::cerr << "no task state from scontrol";
    if (!success_marker) std::cerr << ", no _SUCCESS.json";
    std::cerr << "\n  log: " << log << "\n" << tail_lines(log, 5);
  }
  if (!failed.empty()) {
    std::string list;
    for (int i : failed) list += (list.empty() ? "" : ",") + std::to_string(i);
    std::cerr << failed.size() << " of " << n << " shard(s) failed: " << list << "\n"
              << "  rerun them: sbatch --array=" << list << " " << p.script << "\n"
              << "  then merge: embedflow merge " << p.out << "\n";
  }
  return static_cast<int>(failed.size());
}

int run_slurm(const SlurmOptions& o, const Registry& registry) {
  PipelineConfig cfg = load_for_cluster(o.job, registry);
  for (const auto& w : cfg.warnings) std::cerr << w.str() << "\n";
  if (refuse_cross_shard_stages(cfg)) return cli::kExitInvalid;

  const std::string name = pipeline_name(cfg, o.job.file);
  SlurmPaths p;
  p.exe = self_exe();
  p.pipeline = fs::absolute(o.job.file).lexically_normal().string();
  p.out = fs::absolute(run_output_dir(cfg)).lexically_normal().string();
  if (p.out.size() > 1 && p.out.back() == '/') p.out.pop_back();
  p.submit_dir = fs::current_path().string();
  p.logs = p.out + "/slurm";
  p.script = p.logs + "/" + name + ".sbatch";
  const std::string script = render_sbatch(o, name, p);

  if (o.dry_run) {
    std::cout << script;
    std::cerr << "dry run: nothing written or submitted (the script goes to " << p.script << ")\n";
    return cli::kExitOk;
  }
  if (find_on_path("sbatch").empty()) {
    std::cerr << "error: sbatch is not on PATH: run this on a Slurm login node (or use --dry-run "
                 "to see the script)\n";
    return cli::kExitFailed;
  }
  warn_about_other_shard_counts(p.out, o.job.shards);
  {
    AtomicFile f(p.script);
    f.write(script);
    f.commit();
  }

  std::vector<std::string> argv = {"sbatch", "--parsable"};
  if (o.wait) argv.push_back("--wait");
  argv.push_back(p.script);
  std::string job_id;
  int rc = run_process(argv, [&](const std::string& line) {
    if (!job_id.empty() || line.empty()) return;
    job_id = line.substr(0, line.find(';'));  // "id" or "id;cluster"
    std::cout << "submitted job " << job_id << ": " << o.job.shards << " shard(s) of " << name
              << "\n  script: " << p.script << "\n  logs:   " << p.logs << "/" << job_id
              << "_<shard>.log\n"
              << std::flush;
    if (o.wait) std::cout << "waiting for the array to finish…\n" << std::flush;
  });
  if (job_id.empty()) {
    std::cerr << "error: sbatch "
              << (rc == 0 ? "printed no job id" : "failed (exit " + std::to_string(rc) + ")")
              << "; the script is " << p.script << "\n";
    return cli::kExitFailed;
  }
  if (!o.wait) {
    if (o.job.shards > 1) std::cout << "when it is done: embedflow merge " << p.out << "\n";
    return cli::kExitOk;
  }

  if (report_failed_tasks(job_id, rc, o, p) > 0) return cli::kExitFailed;
  if (o.job.shards == 1) {
    std::cout << "the job completed; its outputs are in " << p.out << " (one shard: no merge)\n";
    return cli::kExitOk;
  }
  std::cout << "all " << o.job.shards << " shard(s) completed; merging " << p.out << "\n"
            << std::flush;
  // The same code as `embedflow merge OUT`.
  int merged = jobs::merge_shards(p.out, registry, std::cout);
  if (merged != 0) {
    std::cerr << "error: the merge of " << p.out << " failed (exit " << merged << ")\n";
    return cli::kExitFailed;
  }
  std::cout << "merged outputs are in " << p.out << "\n";
  return cli::kExitOk;
}

// ---- Kubernetes ---------------------------------------------------------------------------

std::string render_k8s(const K8sOptions& o, const PipelineConfig& cfg) {
  const int n = o.job.shards;
  const std::string name = pipeline_name(cfg, o.job.file);
  const std::string job_name = o.name.empty() ? dns_label("embedflow-" + name) : o.name;
  // Paths as the container sees them: relative ones are relative to its working directory.
  auto in_container = [&](const std::string& path) {
    fs::path q(path);
    return (q.is_absolute() ? q : fs::path(o.workdir) / q).lexically_normal().string();
  };
  std::string out = in_container(run_output_dir(cfg));
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  const std::string mount = o.mount_path.empty() ? out : o.mount_path;

  std::vector<std::string> command = {o.binary,
                                      "run",
                                      o.job.file,
                                      "--num-shards",
                                      std::to_string(n),
                                      "--threads",
                                      std::to_string(o.cpus),
                                      "--resume",
                                      "--progress",
                                      "off"};
  for (const auto& kv : o.job.overrides) {
    command.push_back("--set");
    command.push_back(kv);
  }
  std::string command_yaml;
  for (const auto& c : command) command_yaml += (command_yaml.empty() ? "" : ", ") + yaml_quote(c);

  std::ostringstream y;
  y << "# embedflow pipeline '" << name << "' as a Kubernetes Indexed Job of " << n
    << " shard(s), written by `embedflow k8s`.\n"
    << "# Pod I runs shard I/" << n << " (JOB_COMPLETION_INDEX) and writes " << out
    << "/shard-I-of-" << n << "/.\n"
    << "#   kubectl apply -f job.yaml\n"
    << "#   kubectl wait --for=condition=complete job/" << job_name << " --timeout=-1s\n"
    << "# then assemble the outputs on the volume: embedflow merge " << out << "\n"
    << "apiVersion: batch/v1\n"
    << "kind: Job\n"
    << "metadata:\n"
    << "  name: " << job_name << "\n"
    << "  labels:\n"
    << "    app.kubernetes.io/name: embedflow\n"
    << "    embedflow/pipeline: " << dns_label(name) << "\n"
    << "spec:\n"
    << "  completionMode: Indexed\n"
    << "  completions: " << n << "\n"
    << "  parallelism: " << (o.parallelism > 0 ? std::min(o.parallelism, n) : n) << "\n"
    << "  # Retries count per shard (Kubernetes >= 1.29; on older clusters use backoffLimit);\n"
    << "  # a retried pod continues its shard's journal on the volume (--resume).\n"
    << "  backoffLimitPerIndex: " << o.retries << "\n"
    << "  template:\n"
    << "    metadata:\n"
    << "      labels:\n"
    << "        app.kubernetes.io/name: embedflow\n"
    << "        embedflow/pipeline: " << dns_label(name) << "\n"
    << "    spec:\n"
    << "      restartPolicy: Never\n"
    << "      containers:\n"
    << "        - name: embedflow\n"
    << "          image: " << yaml_quote(o.image) << "\n"
    << "          workingDir: " << yaml_quote(o.workdir) << "\n"
    << "          command: [" << command_yaml << "]\n"
    << "          env:\n"
    << "            # Set by Kubernetes for Indexed Jobs; spelled out for older clusters.\n"
    << "            - name: JOB_COMPLETION_INDEX\n"
    << "              valueFrom:\n"
    << "                fieldRef:\n"
    << "                  fieldPath: "
       "metadata.annotations['batch.kubernetes.io/job-completion-index']\n";
  for (const auto& kv : o.env) {
    auto eq = kv.find('=');
    y << "            - name: " << yaml_quote(kv.substr(0, eq)) << "\n"
      << "              value: " << yaml_quote(kv.substr(eq + 1)) << "\n";
  }
  y << "          resources:\n"
    << "            requests:\n"
    << "              cpu: " << yaml_quote(std::to_string(o.cpus)) << "\n";
  if (!o.memory.empty()) y << "              memory: " << yaml_quote(o.memory) << "\n";
  y << "            limits:\n"
    << "              cpu: " << yaml_quote(std::to_string(o.cpus)) << "\n";
  if (!o.memory.empty()) y << "              memory: " << yaml_quote(o.memory) << "\n";
  if (!o.pvc.empty()) {
    y << "          volumeMounts:\n"
      << "            - name: out\n"
      << "              mountPath: " << yaml_quote(mount) << "\n"
      << "      volumes:\n"
      << "        - name: out\n"
      << "          persistentVolumeClaim:\n"
      << "            claimName: " << yaml_quote(o.pvc) << "\n";
  }
  return y.str();
}

int run_k8s(const K8sOptions& o, const Registry& registry) {
  std::map<std::string, std::string> env;
  for (const auto& kv : o.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "error: --env '" << kv << "': expected KEY=VALUE\n";
      return cli::kExitInvalid;
    }
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  PipelineConfig cfg = load_for_cluster(o.job, registry, env);
  for (const auto& w : cfg.warnings) std::cerr << w.str() << "\n";
  if (refuse_cross_shard_stages(cfg)) return cli::kExitInvalid;
  if (o.pvc.empty())
    std::cerr << "warning: no --pvc: each pod writes its shard into its own filesystem, which "
                 "disappears with the pod; give a ReadWriteMany claim to keep and merge them\n";
  std::cout << render_k8s(o, cfg);
  return cli::kExitOk;
}

void add_job_options(CLI::App* cmd, ShardedJob& job) {
  cmd->add_option("file", job.file, "Pipeline YAML")->required()->check(CLI::ExistingFile);
  cmd->add_option("--shards", job.shards, "Number of shards (array tasks / pods)")
      ->required()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--set", job.overrides,
                  "Override a value: stage_id.param=value (repeatable; passed to every shard)");
}

}  // namespace

void add_cluster_commands(CLI::App& app, cli::CommandList& commands, const Registry& registry) {
  auto slurm = std::make_shared<SlurmOptions>();
  auto* s = app.add_subcommand(
      "slurm",
      "Run a pipeline as a Slurm job array of N shards (sbatch), optionally wait and merge");
  add_job_options(s, slurm->job);
  s->add_option("--partition", slurm->partition, "Slurm partition (-p)")
      ->check(single_token("--partition"));
  s->add_option("--time", slurm->time, "Time limit per shard, as sbatch takes it (e.g. 4:00:00)")
      ->check(single_token("--time"));
  s->add_option("--cpus-per-task", slurm->cpus_per_task,
                "Cores per shard; each shard runs with --threads $SLURM_CPUS_PER_TASK")
      ->check(CLI::Range(1, 1024));
  s->add_option("--mem", slurm->mem, "Memory per shard, as sbatch takes it (e.g. 8G)")
      ->check(single_token("--mem"));
  s->add_option("--account", slurm->account, "Slurm account to charge (-A)")
      ->check(single_token("--account"));
  s->add_flag("--dry-run", slurm->dry_run, "Print the sbatch script; write and submit nothing");
  s->add_flag("--wait", slurm->wait,
              "Wait for the array (sbatch --wait), name failed shards, then merge the outputs");
  commands.push_back({s, [slurm, &registry] { return run_slurm(*slurm, registry); }});

  auto k8s = std::make_shared<K8sOptions>();
  auto* k = app.add_subcommand(
      "k8s", "Print a Kubernetes Indexed Job manifest that runs a pipeline as N shards");
  add_job_options(k, k8s->job);
  k->add_option("--image", k8s->image, "Container image with embedflow installed")
      ->required()
      ->check(single_token("--image"));
  k->add_option("--cpus", k8s->cpus, "Cores per pod (requests = limits; also --threads)")
      ->check(CLI::Range(1, 1024));
  k->add_option("--memory", k8s->memory, "Memory per pod, e.g. 8Gi")
      ->check(single_token("--memory"));
  k->add_option("--pvc", k8s->pvc,
                "PersistentVolumeClaim (ReadWriteMany) mounted at the output folder")
      ->check(single_token("--pvc"));
  k->add_option("--mount-path", k8s->mount_path,
                "Where the claim is mounted (default: the pipeline's output folder)");
  k->add_option("--parallelism", k8s->parallelism, "Pods running at once (default: all shards)")
      ->check(CLI::Range(1, 100000));
  k->add_option("--retries", k8s->retries, "Retries per shard (backoffLimitPerIndex)")
      ->check(CLI::Range(0, 1000));
  k->add_option("--env", k8s->env,
                "KEY=VALUE for the container, also used for ${KEY} when validating (repeatable)");
  k->add_option("--name", k8s->name, "Job name (default: embedflow-<pipeline>)")
      ->check(single_token("--name"));
  k->add_option("--binary", k8s->binary, "embedflow inside the image")->capture_default_str();
  k->add_option("--workdir", k8s->workdir,
                "The container's working directory; relative paths are resolved against it")
      ->capture_default_str();
  commands.push_back({k, [k8s, &registry] { return run_k8s(*k8s, registry); }});
}

}  // namespace embedflow::cli
