// Trace results (lineage/trace.h) as the `trace --json` document of CONTRACTS.md section 5 and as
// text for people: per pair a component table, and for three or more models the N x N matrix of
// verdicts. Pure formatting; thread-safe.
//
// JSON: {"models": [{"path", "family"}], "pairs": [{"a", "b", "verdict", "log10_p", "tests":
// {name: {"log10_p", "per_block", "blocks"}}, "components": [{"a", "b", "log10_p", "verdict",
// "block_map": [[i_a, i_b, log10_p]], ...}], "notes"}], "options": {...}}. Extensions beyond the
// contract: tests[].blocks labels each per_block entry ({"component", "a", "b"}); components carry
// "match_class", "blocks_a", "blocks_b", "residual_alignment", "anchor_cosine", "block_log10_p"
// ([blocks_a][blocks_b] all-pairs matrix), their own "tests" and "notes". A test's pair-level
// log10_p is Fisher over its component values. A p-value that could not be computed is null.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lineage/trace.h"

namespace ct::report {

struct TracedModel {
  std::string path;
  std::string family;
};

nlohmann::ordered_json trace_to_json(const std::vector<TracedModel>& models, const std::vector<lineage::PairTrace>& pairs,
                                     const lineage::TraceOptions& options, uint64_t seed);

std::string trace_text(const std::vector<TracedModel>& models, const std::vector<lineage::PairTrace>& pairs);

}  // namespace ct::report
