// A built-in registry of known models and the published facts about them, each fact citing its
// source (an arXiv id, or the LMSYS blog for Vicuna; "seed" marks a fact the project's seed
// write-up states). Facts we are not sure of are left out, never guessed.
//
// Entries: mPLUG base and large, LLaVA-1.5 7B and 13B, CLIP ViT-B/16, ViT-L/14, ViT-L/14-336,
// BERT-base (uncased), Vicuna v1.5 7B and 13B, LLaMA-2 7B and 13B.
//
// Matching is by shape only: a checkpoint "matches the shape of X" when its components have X's
// widths, depths and patch sizes. Shapes never prove identity (a fine-tune or a random init of the
// same architecture has the same shapes); lineage/ tests that. Whole-model entries (mPLUG, LLaVA)
// also require the anatomy family; component entries (CLIP, BERT, LLaMA-2, Vicuna) are matched per
// component. The family reference (mplug -> mPLUG, llava -> LLaVA-1.5, ...) gives the facts of the
// published family when no shape matches, marked as such.
//
// five_axes() assembles the seed write-up's five comparison axes for one model (architecture,
// tasks, training data, application area, universality) from the anatomy, the model card and the
// registry, each value with its source.
//
// Ownership: the registry is immutable static data returned by const reference.
// Thread-safety: pure functions. Failure: none (no match is an empty result).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "anatomy/anatomy.h"
#include "anatomy/model_card.h"

namespace ct::anatomy {

struct Fact {
  std::string text;
  std::string source;  // "arXiv:2310.03744", "seed write-up; arXiv:2205.12005", ...
};

// Shape of one component: its anatomy kind and exact config values (width, layers, ...).
struct ShapeSignature {
  std::string component;                             // anatomy component name, "" = any
  std::string kind;                                  // anatomy component kind
  std::vector<std::pair<std::string, int64_t>> values;
};

struct KnownModel {
  std::string id;                  // "llava-1.5-7b"
  std::string name;                // "LLaVA-1.5 7B"
  std::string paper;               // primary citation
  std::string family;              // anatomy family name for whole-model entries, "" for components
  std::vector<ShapeSignature> shape;
  std::vector<Fact> architecture, tasks, training_data, application_area, universality;
  std::vector<Fact> built_from;    // declared lineage: what the published model was built from
};

const std::vector<KnownModel>& known_models();

struct ShapeMatch {
  std::string id, name, paper;
  std::string component;           // the matched component, "" for a whole-model match
  std::vector<std::string> notes;  // e.g. vocabulary padded beyond the entry's
};

// Whole-model entries whose family and component shapes match, then component entries matched by
// each component.
std::vector<ShapeMatch> match_shapes(const Anatomy& a);

// The registry entry that stands for the anatomy's family (nullptr when none).
const KnownModel* family_reference(const Anatomy& a);

// {"architecture": {...}, "tasks": {...}, "training_data": ..., "application_area": ...,
//  "universality": ...}: each axis {"values": [{"text", "source"}], "basis": "..."}.
nlohmann::ordered_json five_axes(const Anatomy& a, const ModelCard& card, const std::vector<ShapeMatch>& matches);

}  // namespace ct::anatomy
