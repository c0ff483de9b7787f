// The known-model registry (see registry.h). Facts are kept to what the cited papers (or, marked
// "seed", the project's seed write-up) state; an axis with nothing sure is left empty.
#include "anatomy/registry.h"

#include <algorithm>

namespace ct::anatomy {
using nlohmann::ordered_json;
namespace {

constexpr const char* kMplug = "arXiv:2205.12005";
constexpr const char* kMplugSeed = "seed write-up; arXiv:2205.12005";
constexpr const char* kLlava15 = "arXiv:2310.03744";
constexpr const char* kLlava15Seed = "seed write-up; arXiv:2310.03744";
constexpr const char* kLlava = "arXiv:2304.08485";
constexpr const char* kClip = "arXiv:2103.00020";
constexpr const char* kBert = "arXiv:1810.04805";
constexpr const char* kLlama2 = "arXiv:2307.09288";
constexpr const char* kVicuna = "LMSYS Vicuna blog and model card; arXiv:2306.05685";

ShapeSignature clip_shape(int64_t width, int64_t layers, int64_t patch, int64_t image) {
  ShapeSignature s{"vision_encoder", "clip_vit", {{"width", width}, {"layers", layers}, {"patch_size", patch}}};
  if (image > 0) s.values.emplace_back("image_size", image);
  return s;
}
ShapeSignature llama_shape(int64_t width, int64_t layers, int64_t mlp) {
  return {"language_model", "llama", {{"width", width}, {"layers", layers}, {"mlp_width", mlp}}};
}

KnownModel mplug(const std::string& id, const std::string& name, const std::string& vit, int64_t width,
                 int64_t layers, int64_t patch) {
  KnownModel m{id, name, kMplug, "mplug", {clip_shape(width, layers, patch, 0)}, {}, {}, {}, {}, {}, {}};
  m.architecture = {{"visual encoder: CLIP " + vit, kMplugSeed},
                    {"text encoder: the first 6 layers of BERT-base; skip-connected fusion network from its last 6 layers", kMplugSeed},
                    {"deep fusion: asymmetric co-attention (self-attention, cross-attention, FFN) with connected attention every S layers", kMplugSeed},
                    {"answer/caption decoder cross-attends to the fused image-text features", kMplugSeed}};
  m.tasks = {{"visual question answering", kMplugSeed}, {"image captioning", kMplugSeed},
             {"image-text retrieval", kMplugSeed}, {"visual grounding", kMplugSeed},
             {"visual reasoning", kMplugSeed}};
  m.training_data = {{"pre-training: 14M image-text pairs", kMplugSeed},
                     {"further pre-training for VQA: 4M image-text pairs", "seed write-up"}};
  m.application_area = {{"vision-language understanding and generation benchmarks (VQA, captioning, retrieval, grounding)", kMplugSeed}};
  m.universality = {{"one pre-trained model, fine-tuned separately for each downstream task (a checkpoint per task)", kMplugSeed}};
  m.built_from = {{"CLIP " + vit + " (visual encoder)", kMplugSeed}, {"BERT-base (text encoder and fusion layers)", kMplugSeed}};
  return m;
}

KnownModel llava15(const std::string& id, const std::string& name, int64_t width, int64_t layers, int64_t mlp,
                   const std::string& size) {
  KnownModel m{id, name, kLlava15, "llava", {clip_shape(1024, 24, 14, 336), llama_shape(width, layers, mlp)},
               {}, {}, {}, {}, {}, {}};
  m.architecture = {{"visual encoder: CLIP ViT-L/14 at 336 px", kLlava15Seed},
                    {"connector: two-layer MLP projector (GELU), replacing LLaVA's single linear projection", std::string(kLlava15) + "; " + kLlava},
                    {"language model: Vicuna v1.5 " + size, kLlava15},
                    {"early fusion: projected image tokens are spliced into the LM's input sequence", kLlava},
                    };
  m.tasks = {{"visual question answering", kLlava15Seed}, {"image captioning and description", kLlava15Seed},
             {"visual reasoning", kLlava15Seed}, {"OCR-based question answering (text in images)", kLlava15Seed},
             {"referring expression comprehension", kLlava15Seed}, {"multimodal dialogue", kLlava15Seed},
             {"image-based instruction following", kLlava15Seed}};
  m.training_data = {{"projector pre-training: 558K image-text pairs (the seed write-up rounds this to 600K)", kLlava15Seed},
                     {"visual instruction tuning: a 665K-sample instruction-following mixture", kLlava15}};
  m.application_area = {{"general-purpose visual assistant: chat about images", kLlava15}};
  m.universality = {{"one instruction-tuned model serves all tasks through the prompt, without per-task fine-tuning", kLlava15}};
  m.built_from = {{"CLIP ViT-L/14-336 (vision tower)", kLlava15}, {"Vicuna v1.5 " + size + " (language model)", kLlava15}};
  return m;
}

KnownModel clip(const std::string& id, const std::string& name, int64_t width, int64_t layers, int64_t patch,
                int64_t image) {
  KnownModel m{id, name, kClip, "", {clip_shape(width, layers, patch, image)}, {}, {}, {}, {}, {}, {}};
  m.architecture = {{"ViT image encoder trained contrastively with a text encoder", kClip}};
  m.tasks = {{"zero-shot image classification", kClip}, {"image-text retrieval", kClip}};
  m.training_data = {{"400M image-text pairs collected from the internet", kClip}};
  m.application_area = {{"visual representations for transfer; the vision tower of many VLMs", kClip}};
  m.universality = {{"zero-shot transfer to new classification tasks through text prompts", kClip}};
  return m;
}

KnownModel llama2(const std::string& id, const std::string& name, int64_t width, int64_t layers, int64_t mlp) {
  KnownModel m{id, name, kLlama2, "", {llama_shape(width, layers, mlp)}, {}, {}, {}, {}, {}, {}};
  m.architecture = {{"decoder-only transformer, RMSNorm, SwiGLU MLP, rotary positions, 4096-token context", kLlama2}};
  m.tasks = {{"text generation (pretrained base model)", kLlama2}};
  m.training_data = {{"pre-training: 2 trillion tokens of publicly available data", kLlama2}};
  m.application_area = {{"base model for fine-tuned assistants and domain models", kLlama2}};
  return m;
}

KnownModel vicuna(const std::string& id, const std::string& name, int64_t width, int64_t layers, int64_t mlp,
                  const std::string& base) {
  KnownModel m{id, name, kVicuna, "", {llama_shape(width, layers, mlp)}, {}, {}, {}, {}, {}, {}};
  m.architecture = {{"LLaMA-2 architecture (fine-tune, same shapes)", kVicuna}};
  m.tasks = {{"chat assistant (multi-turn dialogue)", kVicuna}};
  m.training_data = {{"supervised fine-tuning on about 125K conversations from ShareGPT", kVicuna}};
  m.application_area = {{"open chat assistant; the language model of LLaVA-1.5", std::string(kVicuna) + "; " + kLlava15}};
  m.built_from = {{base + " (fine-tuned)", kVicuna}};
  return m;
}

std::vector<KnownModel> build_registry() {
  std::vector<KnownModel> r;
  r.push_back(mplug("mplug-base", "mPLUG base", "ViT-B/16", 768, 12, 16));
  r.push_back(mplug("mplug-large", "mPLUG large", "ViT-L/14", 1024, 24, 14));
  r.push_back(llava15("llava-1.5-7b", "LLaVA-1.5 7B", 4096, 32, 11008, "7B"));
  r.push_back(llava15("llava-1.5-13b", "LLaVA-1.5 13B", 5120, 40, 13824, "13B"));
  r.push_back(clip("clip-vit-b-16", "CLIP ViT-B/16", 768, 12, 16, 224));
  r.push_back(clip("clip-vit-l-14", "CLIP ViT-L/14", 1024, 24, 14, 224));
  r.push_back(clip("clip-vit-l-14-336", "CLIP ViT-L/14-336", 1024, 24, 14, 336));
  KnownModel bert{"bert-base-uncased", "BERT-base (uncased)", kBert, "",
                  {{"", "bert", {{"width", 768}, {"layers", 12}, {"vocab", 30522}}}}, {}, {}, {}, {}, {}, {}};
  bert.architecture = {{"12-layer bidirectional transformer encoder, width 768, 12 heads", kBert}};
  bert.tasks = {{"pre-training: masked language modelling and next-sentence prediction", kBert},
                {"fine-tuned for sentence classification, question answering and tagging", kBert}};
  bert.training_data = {{"BooksCorpus (800M words) and English Wikipedia (2,500M words)", kBert}};
  bert.application_area = {{"text understanding; the text side of pre-LLM VLMs such as mPLUG", std::string(kBert) + "; " + kMplug}};
  bert.universality = {{"one pre-trained encoder fine-tuned per task with a small output layer", kBert}};
  r.push_back(bert);
  r.push_back(vicuna("vicuna-7b-v1.5", "Vicuna v1.5 7B", 4096, 32, 11008, "LLaMA-2 7B"));
  r.push_back(vicuna("vicuna-13b-v1.5", "Vicuna v1.5 13B", 5120, 40, 13824, "LLaMA-2 13B"));
  r.push_back(llama2("llama-2-7b", "LLaMA-2 7B", 4096, 32, 11008));
  r.push_back(llama2("llama-2-13b", "LLaMA-2 13B", 5120, 40, 13824));
  return r;
}

bool component_matches(const Component& c, const ShapeSignature& s) {
  if (c.kind != s.kind && !(s.kind == "bert" && c.kind.starts_with("bert"))) return false;
  if (!s.component.empty() && c.name != s.component) return false;
  for (const auto& [key, want] : s.values) {
    if (!c.config.contains(key) || !c.config[key].is_number_integer() || c.config[key].get<int64_t>() != want) return false;
  }
  return true;
}

ordered_json facts_json(const std::vector<Fact>& facts, const std::string& qualifier) {
  ordered_json out = ordered_json::array();
  for (const auto& f : facts) out.push_back({{"text", f.text}, {"source", f.source + qualifier}});
  return out;
}

}  // namespace

const std::vector<KnownModel>& known_models() {
  static const std::vector<KnownModel> kRegistry = build_registry();  // immutable after first use
  return kRegistry;
}

std::vector<ShapeMatch> match_shapes(const Anatomy& a) {
  std::vector<ShapeMatch> out;
  const std::string family = family_name(a.family);
  for (const auto& m : known_models()) {
    if (m.family.empty() || m.family != family) continue;
    const bool all = std::all_of(m.shape.begin(), m.shape.end(), [&](const ShapeSignature& s) {
      return std::any_of(a.components.begin(), a.components.end(), [&](const Component& c) { return component_matches(c, s); });
    });
    if (all) out.push_back({m.id, m.name, m.paper, "", {}});
  }
  for (const auto& c : a.components) {
    for (const auto& m : known_models()) {
      if (!m.family.empty() || m.shape.size() != 1) continue;
      ShapeSignature s = m.shape[0];
      s.component.clear();  // a component entry matches wherever the component sits
      if (!component_matches(c, s)) continue;
      ShapeMatch match{m.id, m.name, m.paper, c.name, {}};
      if (c.kind == "llama" && c.config.value("vocab", int64_t{0}) != 32000) {
        match.notes.push_back("vocabulary " + std::to_string(c.config.value("vocab", int64_t{0})) + " rows, the entry has 32000");
      }
      out.push_back(std::move(match));
    }
  }
  return out;
}

const KnownModel* family_reference(const Anatomy& a) {
  const char* id = nullptr;
  switch (a.family) {
    case Family::kMplug: id = "mplug-base"; break;
    case Family::kLlava: id = "llava-1.5-7b"; break;
    case Family::kClip:
    case Family::kClipVision: id = "clip-vit-l-14"; break;
    case Family::kLlama: id = "llama-2-7b"; break;
    case Family::kBert: id = "bert-base-uncased"; break;
    default: return nullptr;
  }
  for (const auto& m : known_models())
    if (m.id == id) return &m;
  return nullptr;
}

ordered_json five_axes(const Anatomy& a, const ModelCard& card, const std::vector<ShapeMatch>& matches) {
  // Registry facts: an exact whole-model shape match first, else the family reference.
  const KnownModel* entry = nullptr;
  std::string qualifier, basis;
  for (const auto& m : matches) {
    if (!m.component.empty()) continue;
    for (const auto& k : known_models())
      if (k.id == m.id) entry = &k;
    qualifier = " (checkpoint matches the shape of " + m.name + ")";
    basis = "registry: the checkpoint matches the shape of " + m.name + "; the facts are the published model's";
    break;
  }
  if (!entry && (entry = family_reference(a))) {
    qualifier = " (published " + entry->name + "; not verified for this checkpoint)";
    basis = "registry: no entry matches the checkpoint's shapes; facts of the published " + entry->name +
            ", the reference of the " + family_name(a.family) + " family";
  }

  ordered_json axes;
  // Architecture: measured from the checkpoint, then the registry's description.
  ordered_json arch = ordered_json::array();
  for (const auto& c : a.components) {
    std::string t = c.name + ": " + c.kind;
    for (const char* key : {"width", "layers", "heads", "patch_size", "image_size"}) {
      if (c.config.contains(key) && c.config[key].is_number_integer()) t += ", " + std::string(key) + " " + std::to_string(c.config[key].get<int64_t>());
    }
    t += ", " + std::to_string(c.parameters) + " parameters";
    arch.push_back({{"text", t}, {"source", "checkpoint"}});
  }
  arch.push_back({{"text", "fusion: " + a.fusion}, {"source", "checkpoint"}});
  if (a.config.contains("image_tokens")) {
    arch.push_back({{"text", "image tokens per image: " + a.config["image_tokens"].dump()}, {"source", "checkpoint"}});
  }
  if (entry) {
    for (auto& f : facts_json(entry->architecture, qualifier)) arch.push_back(f);
  }
  axes["architecture"] = {{"values", arch}, {"basis", "checkpoint shapes and config" + (entry ? "; " + basis : std::string())}};

  const std::string card_source = card.present ? "model card (" + card.path + ")" : "";
  auto axis = [&](const std::vector<Fact> KnownModel::*field, const std::vector<std::pair<std::string, std::string>>& from_card) {
    ordered_json values = ordered_json::array();
    for (const auto& [key, label] : from_card) {
      for (const auto& v : card.get(key)) values.push_back({{"text", label + v}, {"source", card_source}});
    }
    if (entry) {
      for (auto& f : facts_json(entry->*field, qualifier)) values.push_back(f);
    }
    std::string b = values.empty() ? "nothing known: no model card fields and no registry entry" : "";
    if (!from_card.empty() && card.present) b = "model card";
    if (entry) b += (b.empty() ? "" : "; ") + basis;
    return ordered_json{{"values", values}, {"basis", b}};
  };
  axes["tasks"] = axis(&KnownModel::tasks, {{"pipeline_tag", "pipeline: "}});
  axes["training_data"] = axis(&KnownModel::training_data, {{"datasets", "dataset: "}});
  axes["application_area"] = axis(&KnownModel::application_area, {{"tags", "tag: "}});
  axes["universality"] = axis(&KnownModel::universality, {});
  return axes;
}

}  // namespace ct::anatomy
