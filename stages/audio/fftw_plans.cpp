#include "stages/audio/fftw_plans.h"

#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <tuple>

namespace embedflow::audio {

namespace {

// Guards every FFTW planner call (plan creation and destruction, wisdom) in the process.
std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

unsigned planner_flags(FftPlanning planning) {
  return planning == FftPlanning::Patient   ? FFTW_PATIENT
         : planning == FftPlanning::Measure ? FFTW_MEASURE
                                            : FFTW_ESTIMATE;
}

// Call with the planner lock held: imports the wisdom file once per process.
void import_wisdom_once(const std::string& wisdom_file) {
  static std::set<std::string> imported;
  if (!wisdom_file.empty() && imported.insert(wisdom_file).second)
    fftwf_import_wisdom_from_filename(wisdom_file.c_str());  // absent or stale: plan from scratch
}

void export_wisdom(const std::string& wisdom_file) {
  if (!wisdom_file.empty() && !fftwf_export_wisdom_to_filename(wisdom_file.c_str()))
    throw std::runtime_error("cannot write FFTW wisdom file '" + wisdom_file + "'");
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
  import_wisdom_once(wisdom_file);
  // Plans live for the whole process: they are small and re-planning costs milliseconds.
  static std::map<std::pair<int, int>, std::shared_ptr<const RealFftPlan>> cache;
  const auto key = std::make_pair(n, static_cast<int>(planning));
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;

  AlignedBuffer<float> in(n);
  AlignedBuffer<fftwf_complex> out(n / 2 + 1);
  // Measuring overwrites the arrays while timing; they are scratch here.
  fftwf_plan plan = fftwf_plan_dft_r2c_1d(n, in.data(), out.data(), planner_flags(planning));
  if (!plan)
    throw std::runtime_error("FFTW could not plan a real FFT of size " + std::to_string(n));
  std::shared_ptr<const RealFftPlan> p(new RealFftPlan(n, plan));
  cache.emplace(key, p);
  export_wisdom(wisdom_file);
  return p;
}

RealFftPlan::~RealFftPlan() {
  std::lock_guard<std::mutex> lock(planner_mutex());
  fftwf_destroy_plan(plan_);
}

void RealFftPlan::execute(float* in, fftwf_complex* out) const {
  fftwf_execute_dft_r2c(plan_, in, out);
}

std::shared_ptr<const ComplexFftPlan> ComplexFftPlan::get(int n, int howmany, int dist,
                                                          FftPlanning planning,
                                                          const std::string& wisdom_file) {
  if (n < 1 || howmany < 1 || dist < n)
    throw std::invalid_argument("bad complex FFT shape: n " + std::to_string(n) + ", howmany " +
                                std::to_string(howmany) + ", dist " + std::to_string(dist));
  std::lock_guard<std::mutex> lock(planner_mutex());
  import_wisdom_once(wisdom_file);
  static std::map<std::tuple<int, int, int, int>, std::shared_ptr<const ComplexFftPlan>> cache;
  const auto key = std::make_tuple(n, howmany, dist, static_cast<int>(planning));
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;

  AlignedBuffer<fftwf_complex> in(static_cast<size_t>(howmany) * dist);
  AlignedBuffer<fftwf_complex> out(static_cast<size_t>(howmany) * dist);
  fftwf_plan plan = fftwf_plan_many_dft(1, &n, howmany, in.data(), nullptr, 1, dist, out.data(),
                                        nullptr, 1, dist, FFTW_FORWARD, planner_flags(planning));
  if (!plan)
    throw std::runtime_error("FFTW could not plan " + std::to_string(howmany) +
                             " complex FFTs of size " + std::to_string(n));
  std::shared_ptr<const ComplexFftPlan> p(new ComplexFftPlan(n, howmany, plan));
  cache.emplace(key, p);
  export_wisdom(wisdom_file);
  return p;
}

ComplexFftPlan::~ComplexFftPlan() {
  std::lock_guard<std::mutex> lock(planner_mutex());
  fftwf_destroy_plan(plan_);
}

void ComplexFftPlan::execute(fftwf_complex* in, fftwf_complex* out) const {
  fftwf_execute_dft(plan_, in, out);
}

}  // namespace embedflow::audio
