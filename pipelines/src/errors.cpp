#include "embedflow/errors.h"

namespace embedflow {

std::string SourceLocation::str() const {
  std::string s = file.empty() ? "<pipeline>" : file;
  if (line > 0) {
    s += ":" + std::to_string(line);
    if (column > 0) s += ":" + std::to_string(column);
  }
  return s;
}

std::string Diagnostic::str() const {
  std::string s = where.str() + ": ";
  if (severity == Severity::Warning) s += "warning: ";
  if (!stage.empty()) s += "stage '" + stage + "': ";
  return s + message;
}

static std::string join_diagnostics(const std::vector<Diagnostic>& diags) {
  std::string s;
  for (const auto& d : diags) {
    if (!s.empty()) s += "\n";
    s += d.str();
  }
  return s;
}

ConfigError::ConfigError(std::vector<Diagnostic> diags)
    : std::runtime_error(join_diagnostics(diags)), diags_(std::move(diags)) {}

ConfigError::ConfigError(SourceLocation where, std::string stage, std::string message)
    : ConfigError(std::vector<Diagnostic>{Diagnostic{Diagnostic::Severity::Error, std::move(where),
                                                     std::move(stage), std::move(message)}}) {}

}  // namespace embedflow
