// Errors users can act on: where (file:line:column), which stage, what was expected.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace embedflow {

struct SourceLocation {
  std::string file;         // pipeline file, or "<command line>"
  int line = 0;             // 1-based; 0 = unknown
  int column = 0;           // 1-based
  std::string str() const;  // "file:line:column" (parts that are unknown are left out)
};

struct Diagnostic {
  enum class Severity { Error, Warning };
  Severity severity = Severity::Error;
  SourceLocation where;
  std::string stage;  // stage id, may be empty for pipeline-level problems
  std::string message;
  std::string str() const;  // "file:3:5: stage 'embed': message"
};

// A configuration problem; carries all diagnostics found so far.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<Diagnostic> diags);
  ConfigError(SourceLocation where, std::string stage, std::string message);
  const std::vector<Diagnostic>& diagnostics() const { return diags_; }

 private:
  std::vector<Diagnostic> diags_;
};

// The one error rule for every stage kind (stage.h): an exception thrown while a stage handles
// an item fails that item only — its error record names the stage and the message, and the other
// items go on. A RunFailure fails the run instead: for what would fail every item alike (the
// output disk is full, a file cannot be created). Sources, whose items do not exist yet, end the
// run on any exception; a source that can skip a bad entry emits it as a failed item.

// Fails one item. Any std::exception does the same; this one exists so code can say so.
class ItemFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Fails the run: in-flight items drain, writers commit what they have, the exit code is 1.
class RunFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace embedflow
