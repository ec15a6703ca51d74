// The output folder of a run is locked for the run's length, so two runs writing into one folder
// fail at the start instead of mixing their outputs and error logs silently. An flock on the
// folder itself: nothing is created among the outputs, and the kernel drops the lock when the
// process dies, so a killed run never leaves a stale lock.
#pragma once

#include <string>

namespace embedflow {

class OutputLock {
 public:
  // Creates `dir` if needed and locks it; throws RunFailure naming the folder, and the process
  // holding it where the system says (pid and command line), when another process holds it.
  explicit OutputLock(const std::string& dir);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace embedflow
