// LLaMA tokenizer over libsentencepiece; see the header for the encoding and decoding rules.
#include "models/tokenizer_llama.h"

#include <sentencepiece_processor.h>

#include <algorithm>

#include "core/error.h"
#include "io/json_file.h"
#include "models/unicode_data.h"

namespace ct::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 "▁"

// A token field is a string, an AddedToken dict with "content", or null.
std::string token_content(const json& j, const fs::path& file, const char* key) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  if (j.is_null()) return {};
  throw InputError(file.string(), std::string(key) + " must be a string or an object with \"content\"");
}

bool bool_field(const json& j, const char* key, bool fallback, const fs::path& file) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw InputError(file.string(), std::string(key) + " must be true or false");
  return it->get<bool>();
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// "<0x0A>" -> 10; -1 when the piece is not a byte piece.
int byte_piece_value(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = piece[i];
    const int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// A run of byte-fallback bytes to text, as HF's ByteFallback decoder does it: the run as it is
// when it is valid UTF-8, otherwise one U+FFFD per byte.
void flush_bytes(std::string& bytes, std::string& out) {
  if (bytes.empty()) return;
  bool valid = true;
  try {
    utf8_to_code_points(bytes, "bytes");
  } catch (const InputError&) {
    valid = false;
  }
  if (valid) {
    out += bytes;
  } else {
    for (std::size_t i = 0; i < bytes.size(); ++i) append_utf8(0xFFFD, out);
  }
  bytes.clear();
}

}  // namespace

LlamaTokenizer::LlamaTokenizer() : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
LlamaTokenizer::LlamaTokenizer(LlamaTokenizer&&) noexcept = default;
LlamaTokenizer& LlamaTokenizer::operator=(LlamaTokenizer&&) noexcept = default;
LlamaTokenizer::~LlamaTokenizer() = default;

LlamaTokenizer LlamaTokenizer::load_dir(const fs::path& dir) {
  const fs::path model = dir / "tokenizer.model";
  if (!fs::is_regular_file(model)) {
    throw InputError(dir.string(), "no tokenizer.model in the LLaMA tokenizer directory; copy the checkpoint's "
                                   "SentencePiece tokenizer.model (llava-hf and Vicuna ship one) into it");
  }
  LlamaTokenizer t;
  if (const auto status = t.sp_->Load(model.string()); !status.ok()) {
    throw InputError(model.string(), "not a SentencePiece model: " + std::string(status.message()));
  }
  t.bos_id_ = t.sp_->bos_id();
  t.eos_id_ = t.sp_->eos_id();
  t.unk_id_ = t.sp_->unk_id();

  json config = json::object(), special_map = json::object();
  const fs::path config_path = dir / "tokenizer_config.json", map_path = dir / "special_tokens_map.json",
                 added_path = dir / "added_tokens.json";
  if (fs::exists(config_path)) config = io::read_json_file(config_path);
  if (fs::exists(map_path)) special_map = io::read_json_file(map_path);
  if (!config.is_object()) throw InputError(config_path.string(), "expected a JSON object");
  if (!special_map.is_object()) throw InputError(map_path.string(), "expected a JSON object");
  t.add_bos_ = bool_field(config, "add_bos_token", true, config_path);
  t.add_eos_ = bool_field(config, "add_eos_token", false, config_path);
  t.legacy_ = bool_field(config, "legacy", true, config_path);

  auto add = [&](LlamaAddedToken tok, const fs::path& file) {
    if (tok.content.empty()) throw InputError(file.string(), "added token " + std::to_string(tok.id) + " is empty");
    if (tok.id < 0) throw InputError(file.string(), "added token \"" + tok.content + "\" has a negative id");
    for (auto& a : t.added_) {
      if (a.id == tok.id) {
        if (a.content != tok.content) {
          throw InputError(file.string(), "id " + std::to_string(tok.id) + " is both \"" + a.content + "\" and \"" +
                                              tok.content + "\"");
        }
        return;  // tokenizer_config.json came first and carries the flags
      }
    }
    t.added_.push_back(std::move(tok));
  };
  if (const auto it = config.find("added_tokens_decoder"); it != config.end() && !it->is_null()) {
    if (!it->is_object()) throw InputError(config_path.string(), "added_tokens_decoder must be an object");
    for (const auto& [key, val] : it->items()) {
      LlamaAddedToken tok;
      try {
        tok.id = std::stoi(key);
      } catch (const std::exception&) {
        throw InputError(config_path.string(), "added_tokens_decoder key \"" + key + "\" is not an id");
      }
      tok.content = token_content(val, config_path, "added_tokens_decoder entry");
      if (val.is_object()) {
        tok.special = bool_field(val, "special", true, config_path);
        tok.lstrip = bool_field(val, "lstrip", false, config_path);
        tok.rstrip = bool_field(val, "rstrip", false, config_path);
      }
      add(std::move(tok), config_path);
    }
  }
  if (fs::exists(added_path)) {
    const json j = io::read_json_file(added_path);
    if (!j.is_object()) throw InputError(added_path.string(), "expected an object of token -> id");
    for (const auto& [key, val] : j.items()) {
      if (!val.is_number_integer()) throw InputError(added_path.string(), "id of \"" + key + "\" is not an integer");
      add(LlamaAddedToken{val.get<std::int32_t>(), key, false, false, false}, added_path);
    }
  }
  std::sort(t.added_.begin(), t.added_.end(), [](const auto& a, const auto& b) { return a.id < b.id; });

  // Named special tokens: tokenizer_config.json wins over special_tokens_map.json, as in HF.
  auto named = [&](const char* key, std::int32_t& id, bool required) {
    std::string content;
    fs::path from;
    for (const auto* src : {&config, &special_map}) {
      if (const auto it = src->find(key); it != src->end()) {
        from = src == &config ? config_path : map_path;
        content = token_content(*it, from, key);
        break;
      }
    }
    if (content.empty()) {
      if (required && id < 0) throw InputError(model.string(), std::string("the model defines no ") + key);
      return;
    }
    const std::int32_t found = t.token_to_id(content);
    if (found < 0) throw InputError(from.string(), std::string(key) + " \"" + content + "\" is not in the vocabulary");
    id = found;
  };
  named("bos_token", t.bos_id_, t.add_bos_);
  named("eos_token", t.eos_id_, false);
  named("unk_token", t.unk_id_, false);
  named("pad_token", t.pad_id_, false);
  if (const auto it = special_map.find("additional_special_tokens"); it != special_map.end() && it->is_array()) {
    for (const auto& v : *it) {
      const std::int32_t id = t.token_to_id(token_content(v, map_path, "additional_special_tokens"));
      for (auto& a : t.added_) {
        if (a.id == id) a.special = true;
      }
    }
  }
  t.image_id_ = t.token_to_id(kImageTokenText);
  return t;
}

void LlamaTokenizer::encode_text(std::string_view piece, std::vector<std::int32_t>& out) const {
  if (piece.empty()) return;
  std::vector<int> ids;
  if (const auto status = sp_->Encode(piece, &ids); !status.ok()) {
    throw InputError("text", "SentencePiece cannot encode it: " + std::string(status.message()));
  }
  out.insert(out.end(), ids.begin(), ids.end());
}

std::vector<std::int32_t> LlamaTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<std::int32_t> out;
  if (add_special_tokens && add_bos_) out.push_back(bos_id_);
  std::size_t piece_start = 0, i = 0;
  while (i < text.size()) {
    const LlamaAddedToken* best = nullptr;
    for (const auto& a : added_) {
      if (text.compare(i, a.content.size(), a.content) == 0 && (!best || a.content.size() > best->content.size())) {
        best = &a;
      }
    }
    if (!best) {
      ++i;
      continue;
    }
    std::size_t piece_end = i;
    if (best->lstrip) {
      while (piece_end > piece_start && is_space(text[piece_end - 1])) --piece_end;
    }
    encode_text(text.substr(piece_start, piece_end - piece_start), out);
    out.push_back(best->id);
    i += best->content.size();
    if (best->rstrip) {
      while (i < text.size() && is_space(text[i])) ++i;
    }
    piece_start = i;
  }
  encode_text(text.substr(piece_start), out);
  if (add_special_tokens && add_eos_) out.push_back(eos_id_);
  return out;
}

std::vector<std::int32_t> LlamaTokenizer::encode_with_image_placeholder(std::string_view text,
                                                                        std::int32_t placeholder) const {
  std::vector<std::int32_t> out;
  if (add_bos_) out.push_back(bos_id_);
  std::size_t start = 0;
  while (true) {
    const std::size_t hit = text.find(kImageTokenText, start);
    const std::string_view chunk = text.substr(start, hit == std::string_view::npos ? std::string_view::npos : hit - start);
    const auto ids = encode(chunk, false);
    out.insert(out.end(), ids.begin(), ids.end());
    if (add_eos_) out.push_back(eos_id_);
    if (hit == std::string_view::npos) break;
    out.push_back(placeholder);
    start = hit + kImageTokenText.size();
  }
  return out;
}

const LlamaAddedToken* LlamaTokenizer::added_by_id(std::int32_t id) const {
  const auto it = std::lower_bound(added_.begin(), added_.end(), id, [](const auto& a, std::int32_t v) { return a.id < v; });
  return (it != added_.end() && it->id == id) ? &*it : nullptr;
}

bool LlamaTokenizer::is_special(std::int32_t id) const {
  if (id == bos_id_ || id == eos_id_ || id == unk_id_ || id == pad_id_) return true;
  const auto* a = added_by_id(id);
  return a && a->special;
}

std::string LlamaTokenizer::decode(const std::vector<std::int32_t>& ids, bool skip_special) const {
  std::string out, bytes;
  const auto pieces = static_cast<std::int32_t>(sp_->GetPieceSize());
  for (std::int32_t id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= vocab_size()) {
      throw InputError("ids", "id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                  std::to_string(vocab_size()) + ")");
    }
    if (skip_special && is_special(id)) continue;
    if (const auto* a = added_by_id(id)) {
      flush_bytes(bytes, out);
      out += a->content;
      continue;
    }
    if (id >= pieces) continue;  // a padding row beyond the pieces with no text (llava-hf vocab 32064)
    const std::string& piece = sp_->IdToPiece(id);
    if (sp_->IsByte(id)) {
      const int b = byte_piece_value(piece);
      CT_CHECK(b >= 0, "SentencePiece byte piece is not <0xNN>");
      bytes.push_back(static_cast<char>(b));
      continue;
    }
    flush_bytes(bytes, out);
    std::size_t pos = 0;
    while (pos < piece.size()) {
      if (piece.compare(pos, kSpaceMarker.size(), kSpaceMarker) == 0) {
        out.push_back(' ');
        pos += kSpaceMarker.size();
      } else {
        out.push_back(piece[pos++]);
      }
    }
  }
  flush_bytes(bytes, out);
  if (!out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

std::int32_t LlamaTokenizer::token_to_id(std::string_view token) const {
  for (const auto& a : added_) {
    if (a.content == token) return a.id;
  }
  const int id = sp_->PieceToId(token);
  // PieceToId answers unk for unknown pieces; only the unk piece itself maps to unk honestly.
  if (id == sp_->unk_id() && sp_->IdToPiece(id) != token) return -1;
  return id;
}

std::string LlamaTokenizer::id_to_piece(std::int32_t id) const {
  if (const auto* a = added_by_id(id)) return a->content;
  if (id < 0 || id >= sp_->GetPieceSize()) return {};
  return sp_->IdToPiece(id);
}

std::size_t LlamaTokenizer::piece_count() const { return static_cast<std::size_t>(sp_->GetPieceSize()); }

std::size_t LlamaTokenizer::vocab_size() const {
  std::size_t n = piece_count();
  if (!added_.empty()) n = std::max(n, static_cast<std::size_t>(added_.back().id) + 1);
  return n;
}

std::string llava15_prompt(std::string_view question) {
  std::string p = "USER: <image>\n";
  p += question;
  p += " ASSISTANT:";
  return p;
}

std::vector<std::int32_t> expand_image_tokens(const std::vector<std::int32_t>& ids, std::int32_t image_token_id,
                                              int count) {
  CT_CHECK(count >= 1, "an image expands to at least one token");
  std::vector<std::int32_t> out;
  out.reserve(ids.size() + static_cast<std::size_t>(count));
  for (std::int32_t id : ids) {
    if (id == image_token_id) {
      out.insert(out.end(), static_cast<std::size_t>(count), id);
    } else {
      out.push_back(id);
    }
  }
  return out;
}

}  // namespace ct::models
