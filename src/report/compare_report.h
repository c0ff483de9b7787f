// The compare report (crosstrace compare / demo): the report.json document assembled by the CLI
// from its stage results, formatted as Markdown and as one self-contained HTML page (inline CSS and
// SVG, images as data: URIs, a Content-Security-Policy that forbids every fetch; no script).
// Pure formatting of an already computed document; it runs no model.
//
// Document (schemas/report.schema.json is the exact contract):
//   schema, command, models [{label, path, family}], data {dir, images, prompts} | null,
//   anatomy {models: [{label, path, anatomy (inspect --json), card, shape_matches, family_reference,
//            declared_lineage, axes (anatomy::five_axes)}]},
//   lineage {trace (CONTRACTS.md 5 document for the pair), unmatched [{model, component, match_class, reason}]},
//   features {status "done" | "skipped", reason | hook_a, hook_b, layer, towers, widths, images, rows, grid,
//             analysis {fve, l0_*, dead_fraction, bin_counts, r_histogram, cosine_histogram},
//             top_latents [{bin, count, latents [{latent, r, cosine, frequency, top_inputs}]}],
//             thumbnails [{index, name, thumbnail_png (base64)}]},
//   summary (compare_summary), run {threads, seed, stages [{stage, resumed, seconds}]}.
//
// Thread-safety: pure functions. Failure: nlohmann::json exceptions on a document that does not
// follow the shape above (a caller bug; the CLI builds it).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ct::report {

// {lineage: {verdict, log10_p, components: [{a, b, verdict, log10_p}]}, unmatched: [text],
//  features: {status, bin_counts, fve} , anatomy: [{label, family, fusion, total_parameters, shape_matches}]}
nlohmann::ordered_json compare_summary(const nlohmann::ordered_json& doc);
// A few lines for the terminal.
std::string compare_summary_text(const nlohmann::ordered_json& summary);

std::string compare_markdown(const nlohmann::ordered_json& doc);
std::string compare_html(const nlohmann::ordered_json& doc);

// Shared by the two formatters: "-12.3", "< -308" style numbers, "n/a" for null.
std::string format_log10_p(const nlohmann::ordered_json& v);

}  // namespace ct::report
