// The LLaMA / Vicuna / llava-hf tokenizer: a SentencePiece BPE model (tokenizer.model, read by
// Debian's libsentencepiece) plus the HF-side files around it (vlm-architectures.md 3.4).
//
// Encoding follows the llava-hf processor (the fast tokenizer from tokenizer.json) and, equally,
// the original LLaVA's chunked tokenisation:
// 1. added tokens (`<image>`, `<pad>`, `<s>`, ... from tokenizer_config.json added_tokens_decoder
//    and added_tokens.json) are split out first, leftmost-longest;
// 2. every non-empty text piece between them is encoded on its own by SentencePiece, so each
//    piece gets its own leading "▁" (the "legacy" LLaMA behaviour). "USER: <image>\nWhat" becomes
//    ▁US ER : ▁ | <image> | ▁ <0x0A> What: the text after `<image>` starts with a lone "▁" and the
//    "\n" is a byte-fallback piece. The `legacy` flag in tokenizer_config.json is read but does not
//    change this: llava-hf sets legacy=false, yet its tokenizer.json produces exactly this pattern
//    (the spec's public test vector);
// 3. BOS once at the start (add_bos_token, default true), EOS at the end only if add_eos_token.
// Decoding follows the same fast tokenizer's decoder: pieces concatenated with "▁" -> " ",
// consecutive byte pieces <0xNN> joined into bytes (invalid UTF-8 -> U+FFFD per byte), one leading
// space stripped from the result; added/special tokens print as their text unless skipped.
//
// Ownership: the tokenizer owns its SentencePiece processor (movable, not copyable).
// Thread-safety: immutable after load; const methods may run concurrently (SentencePiece's encode
// and lookups are const). Failure: load_dir throws InputError naming the directory when
// tokenizer.model is missing, and naming the file when a file is unreadable or malformed;
// decode throws InputError("ids", ...) for an id outside the vocabulary.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace ct::models {

// The original LLaVA code's image placeholder id, spliced between text chunks (IMAGE_TOKEN_INDEX).
inline constexpr std::int32_t kLlavaImagePlaceholderId = -200;
inline constexpr std::string_view kImageTokenText = "<image>";

struct LlamaAddedToken {
  std::int32_t id = -1;
  std::string content;
  bool special = true;
  bool lstrip = false;  // swallow whitespace on the left
  bool rstrip = false;  // swallow whitespace on the right
};

class LlamaTokenizer {
 public:
  // Reads dir/tokenizer.model (required) and, when present, dir/tokenizer_config.json,
  // dir/special_tokens_map.json and dir/added_tokens.json.
  static LlamaTokenizer load_dir(const std::filesystem::path& dir);

  LlamaTokenizer(LlamaTokenizer&&) noexcept;
  LlamaTokenizer& operator=(LlamaTokenizer&&) noexcept;
  ~LlamaTokenizer();

  // Text -> ids. add_special_tokens adds BOS/EOS as configured. Throws InputError("text", ...)
  // when SentencePiece rejects the text.
  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // The original LLaVA layout: chunks split at "<image>", each encoded alone, BOS only on the
  // first, `placeholder` (-200) between chunks. Differs from encode() only in the image id.
  std::vector<std::int32_t> encode_with_image_placeholder(std::string_view text,
                                                          std::int32_t placeholder = kLlavaImagePlaceholderId) const;

  std::string decode(const std::vector<std::int32_t>& ids, bool skip_special = true) const;

  std::int32_t token_to_id(std::string_view token) const;  // added tokens, then pieces; -1 if none
  std::string id_to_piece(std::int32_t id) const;          // "" when out of range
  std::size_t vocab_size() const;  // max(pieces, largest added id + 1)
  std::size_t piece_count() const;  // SentencePiece pieces only
  std::int32_t bos_id() const { return bos_id_; }
  std::int32_t eos_id() const { return eos_id_; }
  std::int32_t unk_id() const { return unk_id_; }
  std::int32_t pad_id() const { return pad_id_; }          // -1 when none
  std::int32_t image_token_id() const { return image_id_; }  // -1 when "<image>" is not a token
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool legacy() const { return legacy_; }
  const std::vector<LlamaAddedToken>& added_tokens() const { return added_; }

 private:
  LlamaTokenizer();
  void encode_text(std::string_view piece, std::vector<std::int32_t>& out) const;
  const LlamaAddedToken* added_by_id(std::int32_t id) const;
  bool is_special(std::int32_t id) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::vector<LlamaAddedToken> added_;  // sorted by id
  std::int32_t bos_id_ = 1, eos_id_ = 2, unk_id_ = 0, pad_id_ = -1, image_id_ = -1;
  bool add_bos_ = true, add_eos_ = false, legacy_ = true;
};

// "USER: <image>\n{question} ASSISTANT:" (llava-hf model card; vlm-architectures.md 3.4).
std::string llava15_prompt(std::string_view question);

// The llava-hf layout: every `image_token_id` in ids replaced by `count` copies of it
// (576 for 336 px / patch 14). [n] -> [n + k*(count-1)] for k image tokens.
std::vector<std::int32_t> expand_image_tokens(const std::vector<std::int32_t>& ids, std::int32_t image_token_id,
                                              int count);

}  // namespace ct::models
