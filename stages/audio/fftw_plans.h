// Shared single-precision FFTW plans for the audio stages.
//
// FFTW's planner is not thread-safe, its executor is: plans are created once per shape at open()
// under one process-wide mutex, then executed concurrently with the new-array functions on
// buffers each thread owns. Plans are cached by shape, so every stage and item with the same
// shape shares one.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include <fftw3.h>

namespace embedflow::audio {

// How hard FFTW searches for a fast algorithm. Estimate (the default everywhere) is
// deterministic: the same build computes bit-identical spectrograms on every run. Measure and
// patient time candidate algorithms, which can pick a different one per run (and so differ in
// the last bits) unless a wisdom file pins the choice.
enum class FftPlanning { Estimate, Measure, Patient };

// A real-to-complex forward transform of n points, n/2+1 complex outputs.
class RealFftPlan {
 public:
  using Planning = FftPlanning;
  static Planning planning_from_name(const std::string& name);  // "estimate"|"measure"|"patient"

  // Returns the cached plan for (n, planning), creating it on first use. When `wisdom_file` is
  // set, wisdom is imported from it before the first plan is made (a missing file is fine) and
  // exported to it after a new plan was made. Throws std::runtime_error when FFTW cannot plan.
  static std::shared_ptr<const RealFftPlan> get(int n, Planning planning = Planning::Estimate,
                                                const std::string& wisdom_file = "");

  ~RealFftPlan();
  RealFftPlan(const RealFftPlan&) = delete;
  RealFftPlan& operator=(const RealFftPlan&) = delete;

  int size() const { return n_; }
  int bins() const { return n_ / 2 + 1; }
  // Thread-safe. `in` (n floats) and `out` (bins() complex) must come from AlignedBuffer.
  void execute(float* in, fftwf_complex* out) const;

 private:
  RealFftPlan(int n, fftwf_plan plan) : n_(n), plan_(plan) {}
  int n_;
  fftwf_plan plan_;
};

// `howmany` forward complex transforms of n points at once, transform j reading in[j*dist ..]
// and writing out[j*dist ..] (contiguous, out of place). For n = 400, two per call run ~25%
// faster per transform than one at a time.
class ComplexFftPlan {
 public:
  // Cached like RealFftPlan::get. `dist` >= n; keep dist a multiple of 8 so every transform of
  // an AlignedBuffer starts SIMD-aligned (the single-transform plan runs on any of them).
  static std::shared_ptr<const ComplexFftPlan> get(int n, int howmany, int dist,
                                                   FftPlanning planning = FftPlanning::Estimate,
                                                   const std::string& wisdom_file = "");

  ~ComplexFftPlan();
  ComplexFftPlan(const ComplexFftPlan&) = delete;
  ComplexFftPlan& operator=(const ComplexFftPlan&) = delete;

  int size() const { return n_; }
  int howmany() const { return howmany_; }
  // Thread-safe. in/out: howmany * dist complex values, 32-byte aligned (AlignedBuffer, or an
  // offset into one that is a multiple of 8 complex values).
  void execute(fftwf_complex* in, fftwf_complex* out) const;

 private:
  ComplexFftPlan(int n, int howmany, fftwf_plan plan) : n_(n), howmany_(howmany), plan_(plan) {}
  int n_, howmany_;
  fftwf_plan plan_;
};

// fftwf_malloc'd storage, so the alignment matches what the plans were made with.
template <class T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n)
      : n_(n), p_(static_cast<T*>(fftwf_malloc(sizeof(T) * (n ? n : 1)))) {
    if (!p_) throw std::bad_alloc();
  }
  ~AlignedBuffer() { fftwf_free(p_); }
  AlignedBuffer(AlignedBuffer&& o) noexcept : n_(o.n_), p_(o.p_) { o.p_ = nullptr, o.n_ = 0; }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    std::swap(n_, o.n_);
    std::swap(p_, o.p_);
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  T* data() { return p_; }
  const T* data() const { return p_; }
  T& operator[](size_t i) { return p_[i]; }
  size_t size() const { return n_; }

 private:
  size_t n_ = 0;
  T* p_ = nullptr;
};

}  // namespace embedflow::audio
