// mPLUG (AliceMind / X-PLUG release, vlm-architectures.md 2), run the way the released code runs:
//
//   image → CLIP ViT (OpenAI layout under `visual_encoder.visual.`, every layer, ln_post on ALL
//   tokens, CLS kept, no projection) → [large only: visn_fc + LayerNorm(1e-12)] = V [N, d]
//   question → [CLS] q [SEP] → BERT text encoder (text_encoder_layers) = T [Lq, d]
//   fusion: only the last fusion_layers of num_hidden_layers modules run; local layer j is
//     "connected" when j ≠ 0 and j mod stride_layer = 0 (self-attention weights over [V; T], FFN,
//     then T ← Y_t and the un-normalised skip V ← V + Y_v), otherwise co-attention (text
//     self-attention, cross-attention to V, FFN; V unchanged)
//   memory M = [V'; T'] (VQA) or V (captioning: the text encoder and fusion are not used)
//   answer decoder: BERT with causal self-attention + cross-attention over M, LM head; beam search
//     (beam 5, length penalty 0.6, start [CLS] 101, end [SEP] 102; VQA max 10 / min 1, caption
//     max 25 / min 8), replicating the TextGenerator quirk that a non-top beam that emitted [SEP]
//     is recorded as a hypothesis but stays alive.
// Cross-attention K/V of M are computed once per answer (not per step) and self-attention K/V are
// cached: the same numbers as the released code's full recomputation, far fewer FLOPs.
//
// Files: the released `.pth` (state dict under `model` or `module`; pretrained `text_encoder.bert.`
// / `fusion_encoder.fusion.` or fine-tuned spellings, folded by normalise_mplug_key; keys the
// forward does not need are ignored), `config.yaml` next to it (image_res, vision_width,
// bert_config; optional `vision_heads`, a crosstrace extension for tiny test models, default
// vision_width / 64 as CLIP's build_model), the BERT JSON it names (else config_bert.json or
// config_bert_stride3.json) and vocab.txt. When image_res differs from the checkpoint's
// positional-embedding grid, the grid is resized bilinearly (align_corners False, CLS row kept),
// as the fine-tuning scripts do.
//
// Hooks (CONTRACTS.md 2): vision.* as clip_vision (vision.post_ln = ln_post on all tokens),
// vision.proj [N, d] (after visn_fc + LN; equal to vision.post_ln when the model has no visn_fc),
// text.embeddings / text.layers.i.{mlp_act, output}, fusion.layers.j.{text [Lq, d], image [N, d]}
// (j counts the fusion layers that run; image is V after the layer, skip-add included),
// decoder.layers.i.output [T_out, d] and decoder.logits [T_out, vocab], teacher-forced on the
// generated answer: the decoder input is [CLS] + answer[0..T_out−1), so row r holds the logits from
// which answer token r was chosen (T_out = answer length, its final [SEP] included).
//
// Ownership: MplugModel keeps its TensorStore (and any resized position table) alive; copies share
// them. Thread-safety: a loaded model is immutable; concurrent calls with their own contexts and
// hooks are safe. Failure: loading throws InputError naming the file and the problem (missing
// tensor with its key, wrong shape, missing or malformed config.yaml / BERT JSON, image_res not a
// multiple of the patch size); forwards throw InputError for bad ids or pixels; mplug_answer also
// for an unreadable image or a missing vocab.txt.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "io/hf_config.h"
#include "io/tensor_store.h"
#include "models/bert.h"
#include "models/clip_vision.h"
#include "models/hooks.h"
#include "models/weights.h"

namespace ct::models {

inline constexpr int32_t kMplugBos = 101;  // [CLS], hard-coded in TextGenerator
inline constexpr int32_t kMplugEos = 102;  // [SEP]

enum class MplugTask { kVqa, kCaption };

struct MplugConfig {
  io::BertConfig bert;            // the BERT JSON (hidden, heads, vocab, eps, mPLUG fields)
  io::ClipVisionConfig vision;    // image_size = image_res (the resolution the model runs at)
  int image_res = 0;              // config.yaml
  int vision_width = 0;           // config.yaml (cross-checked against the checkpoint)
  int stored_grid = 0;            // the checkpoint's positional-embedding grid side
  int text_layers = 0;            // text_encoder_layers
  int fusion_modules = 0;         // num_hidden_layers: fusion_encoder.encoder.layer.{0..}
  int fusion_layers = 0;          // how many of them run (the last ones)
  int stride = 1;                 // stride_layer
  int decoder_layers = 0;         // text_decode_layers
  bool visn_fc = false;           // vision_width != hidden_size (mPLUG-large)
  std::string yaml_file, bert_file;  // for messages

  int fusion_start() const { return fusion_modules - fusion_layers; }
  // True when local fusion layer j (0-based among those that run) is connected attention.
  bool fusion_connected(int j) const { return j != 0 && j % stride == 0; }
};

struct MplugWeights {
  ClipVisionWeights vision;
  kernels::WeightView visn_fc_w, visn_fc_b;    // [d, W], [d] (large only)
  kernels::WeightView visn_ln_w, visn_ln_b;    // [d]
  BertWeights text;                            // text_encoder
  std::vector<BertLayerWeights> fusion;        // the fusion_layers modules that run
  BertWeights decoder;                         // text_decoder.bert
  BertLmHeadWeights lm_head;                   // text_decoder.cls.predictions
};

// The one tensor list (fine-tuned spelling) of the forward pass; cls.predictions.decoder.weight is
// bound by load_mplug (tied to the decoder's word embeddings when absent).
void for_each_tensor(const MplugConfig& c, MplugWeights& w, const TensorVisitor& visit);

struct MplugModel {
  MplugConfig config;
  MplugWeights weights;
  std::filesystem::path directory;             // config.yaml, BERT JSON, vocab.txt
  std::shared_ptr<const io::TensorStore> store;
  std::shared_ptr<const std::vector<float>> resized_positions;  // [N, W] when interpolated
};

// Configs only (config.yaml + BERT JSON), plus the checkpoint's vision shapes from `store`.
MplugConfig read_mplug_config(const std::filesystem::path& model, const io::TensorStore& store);
// `model`: the .pth file, or the directory holding exactly one checkpoint and the configs.
MplugModel load_mplug(const std::filesystem::path& model);

// Positional table [1 + g_in², W] → [1 + g_out², W]: CLS row kept, grid resized bilinearly with
// align_corners False (torch F.interpolate semantics).
std::vector<float> resize_position_embedding(std::span<const float> table, int64_t width, int g_in, int g_out);

// The encoders' result: the decoder's memory (VQA: [V'; T'], caption: V) [rows, d].
struct MplugMemory {
  std::vector<float> rows_data;
  int64_t rows = 0;
};
// pixels [3, res, res] (mPLUG-preprocessed), ids [CLS] q [SEP] (ignored for captioning).
MplugMemory mplug_encode(const MplugModel& m, std::span<const float> pixels, std::span<const int32_t> ids,
                         MplugTask task, const ExecContext& ctx, const Hooks& hooks);
// V [N, d]: the visual features after ln_post and (large) visn_fc + LN; emits vision.*, vision.proj.
std::vector<float> mplug_visual(const MplugModel& m, std::span<const float> pixels, const ExecContext& ctx,
                                const Hooks& hooks);
// The fusion network: updates v [N, d] and t [Lq, d] in place; emits fusion.layers.j.{text,image}.
void mplug_fusion(const MplugModel& m, std::vector<float>& v, int64_t n_image, std::vector<float>& t, int64_t n_text,
                  const ExecContext& ctx, const Hooks& hooks);

// ----- decoder (mplug_decode.cpp)

struct MplugGenerateOptions {
  int beam_size = 5;
  int max_length = -1;            // -1: 10 for VQA, 25 for captioning
  int min_length = -1;            // -1: 1 for VQA, 8 for captioning
  float length_penalty = 0.6f;
  // The released code's way (benchmarks and tests only): every step runs
  // mplug_decoder_step_released (no cache, memory tiled per beam) instead of the cached step.
  bool released_step = false;
};

struct MplugBeamResult {
  std::vector<int32_t> ids;       // generated ids without the start token (ends with [SEP] unless cut)
  float score = 0.0f;             // length-penalised log-probability of the returned hypothesis
};

// Cross-attention K/V of every decoder layer over the memory, computed once.
std::vector<BertMemoryKv> mplug_decoder_memory(const MplugModel& m, const MplugMemory& memory,
                                               const ExecContext& ctx);

// The decoder's self-attention K/V for `beams` beams, every layer: [layer][beam] caches of
// [length, d] each, with room for `max_len` positions reserved up front so steps never allocate.
// After a beam selection, reorder(parents) makes beam j continue beam parents[j]'s cache: the
// first child of a parent takes its buffers by swap, further children copy them (into reserved
// room), so a step moves no data for a beam with one child.
class MplugDecoderCache {
 public:
  MplugDecoderCache(const MplugModel& m, int beams, int max_len);
  int beams() const { return beams_; }
  // caches of layer i, one per beam (what bert_layer_forward appends to).
  std::span<BertSelfCache> layer(std::size_t i) { return live_[i]; }
  std::size_t layers() const { return live_.size(); }
  // parents [beams], each in 0..beams−1.
  void reorder(std::span<const int> parents);

 private:
  int beams_ = 0;
  std::vector<std::vector<BertSelfCache>> live_, spare_;  // [layer][beam]
  std::vector<int> first_child_;                          // [beam] scratch of reorder
};

// One decoding step for the cache's beams at position `pos`: tokens [beams] → logits [beams, vocab].
void mplug_decoder_step(const MplugModel& m, const std::vector<BertMemoryKv>& memory_kv, MplugDecoderCache& cache,
                        std::span<const int32_t> tokens, int64_t pos, std::vector<float>& logits,
                        const ExecContext& ctx);
// The released code's step (vlm-architectures.md 2.5 and 4; benchmarks and tests only), with no
// cache at all: the n beam prefixes (equal lengths, each starting with [CLS]) run through the whole
// decoder again, over the memory tiled once per beam, so every layer recomputes its cross-attention
// K/V over n·rows memory rows, and the LM head runs over every position; the logits of each
// prefix's last position → logits [n, vocab]. The same numbers as mplug_decoder_step (within f32
// rounding), at many times the FLOPs.
void mplug_decoder_step_released(const MplugModel& m, const MplugMemory& memory,
                                 const std::vector<std::vector<int32_t>>& prefixes, std::vector<float>& logits,
                                 const ExecContext& ctx);
MplugBeamResult mplug_beam_search(const MplugModel& m, const MplugMemory& memory, MplugTask task,
                                  const MplugGenerateOptions& opt, const ExecContext& ctx);
// Teacher-forced run over [CLS] + answer[0..n−1): emits decoder.layers.i.output and decoder.logits
// (all rows); returns logits [n, vocab].
std::vector<float> mplug_decoder_teacher_forced(const MplugModel& m, const MplugMemory& memory,
                                                std::span<const int32_t> answer, const ExecContext& ctx,
                                                const Hooks& hooks);

// Hook names a forward for `task` emits, in emission order (VQA offers all of them).
std::vector<std::string> mplug_hook_names(const MplugConfig& c, MplugTask task = MplugTask::kVqa);

// ----- models-level API for the CLI (mplug_api.cpp)

struct MplugAnswer {
  std::string text;                  // decoded answer / caption (special tokens dropped)
  std::vector<int32_t> token_ids;    // generated ids (as MplugBeamResult::ids)
  std::vector<int32_t> input_ids;    // text-encoder input [CLS] q [SEP] (empty for captioning)
  float score = 0.0f;
};

// Loads the model, decodes and preprocesses the image (squash to image_res, CLIP mean/std),
// tokenises the question (vocab.txt next to the model, lower-cased WordPiece), encodes and runs the
// beam search. When `hooks` has subscribers, the encoder hooks fire during the forward and the
// decoder hooks from a teacher-forced pass over the generated answer.
MplugAnswer mplug_answer(const std::filesystem::path& model_path, const std::filesystem::path& image_path,
                         const std::string& question, MplugTask task, const MplugGenerateOptions& opt,
                         const ExecContext& ctx, const Hooks& hooks = {});
MplugAnswer mplug_answer(const MplugModel& m, const std::filesystem::path& image_path, const std::string& question,
                         MplugTask task, const MplugGenerateOptions& opt, const ExecContext& ctx,
                         const Hooks& hooks = {});

// Harvest: runs mplug_answer with the named hooks recorded (InputError naming `model_path` when a
// name is not offered); `captured` maps each hook name to its tensor.
struct MplugHarvest {
  MplugAnswer answer;
  HookRecorder captured;
};
MplugHarvest mplug_harvest(const std::filesystem::path& model_path, const std::filesystem::path& image_path,
                           const std::string& question, const std::vector<std::string>& hook_names, MplugTask task,
                           const MplugGenerateOptions& opt, const ExecContext& ctx);

}  // namespace ct::models
