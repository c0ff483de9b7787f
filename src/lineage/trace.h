// Model tracing of checkpoints (specs/model-tracing.md sections 4-6, CONTRACTS.md section 5): for
// two models, every pair of comparable components (lineage/blocks.h) is tested for shared weights.
//
// Per component pair (model a's component against model b's):
// 1. Residual alignment (spec 4.6). When both components have an anchor embedding (token or
//    position embeddings), the residual coordinates are matched by LAP on the anchor's columns
//    (cosine, first `anchor_rows` rows). The match is applied to b only when the anchors are
//    related (mean matched cosine >= anchor_min_cosine); unrelated anchors would scramble
//    coordinates that may well be unpermuted, so then b is used as stored.
// 2. Signatures of every block on `samples` shared N(0, 1) inputs (the norm feeding the MLP is
//    folded into the weights). GLU: gate and up pre-activations, the paper's phi_MATCH.
//    Plain MLP (CLIP, BERT): the input side is the fc1 pre-activation (+ bias), the output side is
//    the fc2 column of the unit (its d output weights), matched on |cosine|. Both move together
//    under any unit permutation or rescaling. Matching fc1 pre- against post-activations instead
//    would correlate the two matchings even for independent models (GELU is near-monotone), so
//    the p-value would be invalid; that is why the output side comes from fc2.
// 3. Localisation: all-pairs phi_MATCH on `localize_units` rows x `localize_samples` inputs, the
//    [La, Lb] matrix of log10 p, and the monotone block map (localize.h, threshold 1e-4).
// 4. Tests per block pair: same depth -> blocks (i, i); different depth -> each block of the
//    shallower side against its best localisation partner, the p-value multiplied by the deeper
//    side's depth (Bonferroni over the candidates, so selection cannot fake evidence).
//    - phi_match: rows = a random subset of `match_units` hidden units of the narrower side,
//      matched against ALL units of the other side (paper-exact when h <= match_units).
//    - phi_u (4.2): hidden units aligned by their gate rows (GLU) or fc2 columns (plain), then up
//      rows matched by cosine, Spearman against the identity; on `u_columns` random residual
//      coordinates. Loses power under residual rotation or negative rescaling (constrained test).
//    - phi_l2 PERMTEST (4.1): only when all block shapes agree and T x parameters <= l2_max_work.
//    Each test's p is Fisher over its blocks.
// 5. Component p = min over tests x number of tests (Bonferroni); verdict: dependent when log10 p <
//    dependent_log10_p (-6), independent when log10 p > independent_log10_p (-2), else
//    inconclusive. Components with different residual widths are not tested (log10 p NaN,
//    inconclusive, with a note).
// Pair p = min over tested components x their number; same thresholds. No comparable component
// at all is a result, not an error: verdict inconclusive with a note.
//
// Determinism: inputs and unit subsets come from seed streams derived from ctx.seed(); every
// parallel loop splits statically; results are identical for any thread count.
// Thread-safety: pure functions. Failure: InputError for malformed blocks (blocks.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "lineage/blocks.h"

namespace ct::lineage {

struct TraceOptions {
  int64_t samples = 256;           // shared Gaussian inputs per block
  int64_t match_units = 1024;      // rows matched per block in phi_match (all when fewer)
  int64_t localize_units = 64;     // rows per block pair in the all-pairs matrix
  int64_t localize_samples = 128;  // inputs per block pair in the all-pairs matrix
  int64_t u_columns = 256;         // residual coordinates used by phi_u
  int64_t anchor_rows = 1024;      // anchor rows used for the residual alignment
  double anchor_min_cosine = 0.5;
  int64_t l2_permutations = 99;
  double l2_max_work = 2e8;        // T x parameters above which phi_l2 is skipped
  double localize_threshold = 1e-4;
  double dependent_log10_p = -6.0;
  double independent_log10_p = -2.0;
};

enum class Verdict { kDependent, kIndependent, kInconclusive };
const char* verdict_name(Verdict v);
Verdict verdict_for(double log10_p, const TraceOptions& o);

inline constexpr double kNoP = std::numeric_limits<double>::quiet_NaN();

struct BlockPair {
  int64_t a = 0, b = 0;  // block indices (position in the component's layer order)
};

struct TestResult {
  std::string name;                 // phi_match, phi_u, phi_l2
  double log10_p = kNoP;            // Fisher over per_block (phi_l2: the PERMTEST p)
  std::vector<double> per_block;    // log10 p per tested block pair
  std::vector<BlockPair> blocks;    // which pair each per_block entry is
};

struct BlockLink {
  int64_t a = 0, b = 0;
  double log10_p = 0.0;
};

struct ComponentTrace {
  std::string a, b;                  // component names
  std::string match_class;
  int64_t blocks_a = 0, blocks_b = 0;
  double log10_p = kNoP;
  Verdict verdict = Verdict::kInconclusive;
  std::vector<TestResult> tests;
  std::vector<double> block_log10_p; // [blocks_a, blocks_b] all-pairs phi_match (localisation tier)
  std::vector<BlockLink> block_map;  // monotone map, matched pairs only
  std::string residual_alignment;    // identity, permuted, unrelated-anchors, no-anchor
  double anchor_cosine = kNoP;       // mean matched anchor-column cosine
  std::vector<std::string> notes;
};

struct PairTrace {
  int64_t a = 0, b = 0;              // model indices
  double log10_p = kNoP;
  Verdict verdict = Verdict::kInconclusive;
  std::vector<ComponentTrace> components;
  std::vector<std::string> notes;
};

ComponentTrace trace_components(const ComponentBlocks& a, const ComponentBlocks& b, const TraceOptions& o,
                                const ExecContext& ctx);
PairTrace trace_pair(const std::vector<ComponentBlocks>& a, const std::vector<ComponentBlocks>& b,
                     const TraceOptions& o, const ExecContext& ctx);

// Signature kernels, exposed for tests: [h, N] pre-activations W x + bias over inputs x [N, d].
Matrix pre_activations(const Matrix& w, const std::vector<float>& bias, const Matrix& x, const ExecContext& ctx);

}  // namespace ct::lineage
