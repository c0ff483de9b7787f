// Anatomy results as JSON (the `inspect --json` contract, CONTRACTS.md section 1) and as text for
// people: one model as a table, or two models side by side. Pure formatting; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "anatomy/anatomy.h"

namespace ct::report {

nlohmann::ordered_json anatomy_to_json(const anatomy::Anatomy& a);

// "1.23 M", "6.74 B": a parameter count for people.
std::string human_count(int64_t n);

std::string anatomy_text(const anatomy::Anatomy& a);
std::string anatomy_side_by_side(const anatomy::Anatomy& a, const anatomy::Anatomy& b);

}  // namespace ct::report
