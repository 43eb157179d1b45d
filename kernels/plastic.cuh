/*
 * plastic.cuh -- what the plasticity kernels share: the hand-written
 * machinery of plasticity.cu.j2 (traces, spike lists, delivery, the threshold of
 * homeostasis) and the kernels generated from PlasticityModel descriptions
 * (neurosim/plasticity/generate.py, plasticity_rule.cu.j2) and
 * HomeostasisModel descriptions (neurosim/plasticity/homeostasis_model.py,
 * homeostasis_rule.cu.j2).
 *
 * Storage of a plastic projection (see plasticity.cu.j2): rows indptr, targets
 * post, weights w, one delay or per-synapse delays, column index
 * col_ptr/col_syn, presynaptic trace rings xr[k][R][n_pre], postsynaptic
 * traces y[k][n_post], the presynaptic spikes of the last R steps
 * (pre_spk/pre_cnt).
 */
#ifndef NS_PLASTIC_CUH
#define NS_PLASTIC_CUH

#include "step.cuh"

/* Python's modulo for a possibly negative step. */
NS_DEVICE ns_i64 ns_pmod(ns_i64 a, ns_i64 m) {
  ns_i64 r = a % m;
  return r < 0 ? r + m : r;
}

/* The arithmetic of generated rule code: one IEEE operation each, rounded to
 * nearest and never contracted into an FMA (NumPy's float32 operations in the
 * same order), in the precision of ns_real. */
NS_DEVICE float ns_add(float a, float b) { return __fadd_rn(a, b); }
NS_DEVICE float ns_sub(float a, float b) { return __fsub_rn(a, b); }
NS_DEVICE float ns_mul(float a, float b) { return __fmul_rn(a, b); }
NS_DEVICE float ns_div(float a, float b) { return __fdiv_rn(a, b); }
NS_DEVICE double ns_add(double a, double b) { return __dadd_rn(a, b); }
NS_DEVICE double ns_sub(double a, double b) { return __dadd_rn(a, -b); }
NS_DEVICE double ns_mul(double a, double b) { return __dmul_rn(a, b); }
NS_DEVICE double ns_div(double a, double b) { return a / b; }
/* ns_exp, ns_expm1, ns_log, ns_sqrt: common.cuh (float or double with ns_real). */
NS_DEVICE float ns_abs(float x) { return fabsf(x); }
NS_DEVICE double ns_abs(double x) { return fabs(x); }
/* np.minimum / np.maximum: a NaN argument is returned */
NS_DEVICE ns_real ns_min(ns_real a, ns_real b) {
  return a != a ? a : (b != b ? b : (b < a ? b : a));
}
NS_DEVICE ns_real ns_max(ns_real a, ns_real b) {
  return a != a ? a : (b != b ? b : (b > a ? b : a));
}
/* the same in float64 whatever ns_real (the incoming sums of homeostasis
 * rules and the arithmetic that reads them, homeostasis_rule.cu.j2) */
NS_DEVICE double ns_wmin(double a, double b) {
  return a != a ? a : (b != b ? b : (b < a ? b : a));
}
NS_DEVICE double ns_wmax(double a, double b) {
  return a != a ? a : (b != b ? b : (b > a ? b : a));
}
NS_DEVICE ns_real ns_pow2(ns_real x) { return ns_mul(x, x); }
NS_DEVICE ns_real ns_pow3(ns_real x) { return ns_mul(ns_mul(x, x), x); }
NS_DEVICE ns_real ns_pow4(ns_real x) { return ns_mul(ns_mul(ns_mul(x, x), x), x); }

/* Visit (synapse k, presynaptic neuron j, delay d) for every synapse whose
 * presynaptic spike arrives in step a: the spikes of step e = a - d, in
 * increasing e, each row in order (the NumPy runtime's delivery order). With
 * per-synapse delays each row is sorted by delay (the runtime stores the
 * synapses so): a binary search finds the synapses of delay d. */
template <typename Visit>
NS_DEVICE void ns_arrivals(ns_i64 a, ns_i32 R, ns_i32 n_pre,
                           const ns_i32 *__restrict__ pre_spk,
                           const ns_i32 *__restrict__ pre_cnt,
                           const ns_i64 *__restrict__ indptr, ns_i32 delay,
                           const ns_i32 *__restrict__ delays, ns_i32 per_syn, ns_i32 d_lo,
                           ns_i32 d_hi, ns_i32 lanes, Visit visit) {
  for (ns_i32 dd = d_hi; dd >= d_lo; --dd) {
    const ns_i64 e = a - dd;
    if (e < 0) continue;
    const ns_i64 r = ns_pmod(e, R);
    NS_GRID_STRIDE_LOOP(t, (ns_i64)pre_cnt[r] * lanes) {
      const ns_i32 j = pre_spk[r * n_pre + t / lanes];
      ns_i64 k = indptr[j];
      const ns_i64 end = indptr[j + 1];
      if (per_syn) {
        ns_i64 hi = end;
        while (k < hi) {
          const ns_i64 mid = k + (hi - k) / 2;
          if (delays[mid] < dd) k = mid + 1; else hi = mid;
        }
        for (k += t % lanes; k < end && delays[k] == dd; k += lanes) visit(k, j, dd);
      } else {
        for (k += t % lanes; k < end; k += lanes) visit(k, j, delay);
      }
    }
  }
}

#endif /* NS_PLASTIC_CUH */
