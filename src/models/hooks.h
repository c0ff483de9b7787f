// Hook points (CONTRACTS.md section 2): every forward pass hands its named intermediate tensors
// to one Hooks object; methods subscribe by exact name and never edit model code.
//
// A site is emitted as an f32 HookTensor [rows, cols] (tokens × width, no batch dimension). The
// view is only valid during the callback: a subscriber that keeps the data copies it.
// Free when off: emit() is one inline branch on an empty subscriber table; layer-indexed names are
// built only when some subscriber exists (emit_layer), and models ask wants() before computing a
// tensor that exists only for a hook (all-token logits).
// Emission order and count: once per forward call per site; a generation run emits the prefill
// tensors (all prompt tokens) and, when the caller passes the same Hooks to the decode steps, one
// row per generated token.
//
// Ownership: Hooks owns the callbacks. Thread-safety: subscribe() before the forward; emit() is
// called by the forward on the calling thread only. Failure: validate_hook_names() throws
// InputError (`where`, message listing the valid names, long lists summarised).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ct::models {

// A row-major f32 tensor [rows, cols] owned by the forward pass.
struct HookTensor {
  const float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
};

using HookCallback = std::function<void(std::string_view name, const HookTensor& t)>;

class Hooks {
 public:
  // Registers `fn` for the site named exactly `name`; several callbacks per name run in order.
  void subscribe(std::string name, HookCallback fn);
  bool enabled() const { return !subs_.empty(); }
  bool wants(std::string_view name) const { return enabled() && subs_.find(name) != subs_.end(); }

  // The site `name` produced t.
  void emit(std::string_view name, const HookTensor& t) const {
    if (subs_.empty()) return;
    dispatch(name, t);
  }
  // The site `<component>.layers.<layer>.<site>`; the name is built only when enabled.
  void emit_layer(std::string_view component, int layer, std::string_view site, const HookTensor& t) const {
    if (subs_.empty()) return;
    dispatch(layer_hook_name(component, layer, site), t);
  }
  bool wants_layer(std::string_view component, int layer, std::string_view site) const {
    return enabled() && wants(layer_hook_name(component, layer, site));
  }

  static std::string layer_hook_name(std::string_view component, int layer, std::string_view site);

 private:
  void dispatch(std::string_view name, const HookTensor& t) const;
  std::map<std::string, std::vector<HookCallback>, std::less<>> subs_;
};

// Throws InputError(where, ...) when a requested name is not offered; the message names the
// unknown hooks and lists the valid ones, folding `x.layers.<i>.site` over i into
// `x.layers.{0..N}.site` and truncating very long lists.
void validate_hook_names(const std::vector<std::string>& requested, const std::vector<std::string>& offered,
                         const std::string& where);

// The compact form of a hook list used in that message (and by `inspect` text output).
std::string summarise_hook_names(const std::vector<std::string>& names);

// Collects copies of the emitted tensors (tests, harvest): subscribe it to names, then read
// `tensors`. The last emission of a name wins unless `append` is set (then rows accumulate).
struct HookRecorder {
  struct Captured {
    std::vector<float> data;
    int64_t rows = 0, cols = 0;
  };
  std::map<std::string, Captured, std::less<>> tensors;
  bool append = false;
  void subscribe_to(Hooks& hooks, const std::vector<std::string>& names);
};

}  // namespace ct::models
