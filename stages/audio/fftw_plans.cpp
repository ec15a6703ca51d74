#include "stages/audio/fftw_plans.h"

#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

namespace embedflow::audio {

namespace {

// Guards every FFTW planner call (plan creation and destruction, wisdom) in the process.
std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

// Plans live for the whole process: they are small and re-planning costs milliseconds.
std::map<std::pair<int, int>, std::shared_ptr<const RealFftPlan>>& plan_cache() {
  static std::map<std::pair<int, int>, std::shared_ptr<const RealFftPlan>> cache;
  return cache;
}

}  // namespace

RealFftPlan::Planning RealFftPlan::planning_from_name(const std::string& name) {
  if (name == "measure") return Planning::Measure;
  if (name == "patient") return Planning::Patient;
  return Planning::Estimate;
}

std::shared_ptr<const RealFftPlan> RealFftPlan::get(int n, Planning planning,
                                                    const std::string& wisdom_file) {
  if (n < 2) throw std::invalid_argument("FFT size must be at least 2, got " + std::to_string(n));
  std::lock_guard<std::mutex> lock(planner_mutex());
  static std::set<std::string> imported;
  if (!wisdom_file.empty() && imported.insert(wisdom_file).second)
    fftwf_import_wisdom_from_filename(wisdom_file.c_str());  // absent or stale: plan from scratch

  auto& cache = plan_cache();
  const unsigned flags = planning == Planning::Patient   ? FFTW_PATIENT
                         : planning == Planning::Measure ? FFTW_MEASURE
                                                         : FFTW_ESTIMATE;
  const auto key = std::make_pair(n, static_cast<int>(planning));
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;

  AlignedBuffer<float> in(n);
  AlignedBuffer<fftwf_complex> out(n / 2 + 1);
  // Measuring overwrites the arrays while timing; they are scratch here.
  fftwf_plan plan = fftwf_plan_dft_r2c_1d(n, in.data(), out.data(), flags);
  if (!plan)
    throw std::runtime_error("FFTW could not plan a real FFT of size " + std::to_string(n));
  std::shared_ptr<const RealFftPlan> p(new RealFftPlan(n, plan));
  cache.emplace(key, p);
  if (!wisdom_file.empty() && !fftwf_export_wisdom_to_filename(wisdom_file.c_str()))
    throw std::runtime_error("cannot write FFTW wisdom file '" + wisdom_file + "'");
  return p;
}

RealFftPlan::~RealFftPlan() {
  std::lock_guard<std::mutex> lock(planner_mutex());
  fftwf_destroy_plan(plan_);
}

void RealFftPlan::execute(float* in, fftwf_complex* out) const {
  fftwf_execute_dft_r2c(plan_, in, out);
}

}  // namespace embedflow::audio
