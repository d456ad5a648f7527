#include "tools/sanhakctl/yaml.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/sanhakctl/display.h"
#include "tools/sanhakctl/records.h"

namespace sanhak::ctl {

namespace {

// A JSON value with its object members in the order the text has them (protobuf's
// printer writes fields in declaration order; a YAML reader should see the same order).
struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  // kBool: "true"/"false"; kNumber: the number as written; kString: decoded UTF-8.
  std::string text;
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;
};


class JsonParser {
 public:
  explicit JsonParser(absl::string_view text) : text_(text) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    JsonValue value;
    if (absl::Status s = Parse(value, 0); !s.ok()) return s;
    SkipSpace();
    if (at_ != text_.size()) return Error("text after the JSON value");
    return value;
  }

 private:
  // protobuf's own parser stops at 100 levels; nothing it printed is deeper.
  static constexpr int kMaxDepth = 128;

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("JSON at offset ", at_, ": ", what));
  }
  void SkipSpace() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\r' || text_[at_] == '\t')) {
      ++at_;
    }
  }
  bool Consume(absl::string_view word) {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  absl::Status Parse(JsonValue& value, int depth) {
    if (depth > kMaxDepth) return Error("nested too deeply");
    SkipSpace();
    if (at_ >= text_.size()) return Error("unexpected end");
    const char c = text_[at_];
    if (c == '{') {
      ++at_;
      value.type = JsonValue::Type::kObject;
      SkipSpace();
      if (Consume("}")) return absl::OkStatus();
      while (true) {
        SkipSpace();
        std::string key;
        if (absl::Status s = ParseString(key); !s.ok()) return s;
        SkipSpace();
        if (!Consume(":")) return Error("expected ':'");
        JsonValue member;
        if (absl::Status s = Parse(member, depth + 1); !s.ok()) return s;
        value.members.emplace_back(std::move(key), std::move(member));
        SkipSpace();
        if (Consume("}")) return absl::OkStatus();
        if (!Consume(",")) return Error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      ++at_;
      value.type = JsonValue::Type::kArray;
      SkipSpace();
      if (Consume("]")) return absl::OkStatus();
      while (true) {
        JsonValue item;
        if (absl::Status s = Parse(item, depth + 1); !s.ok()) return s;
        value.items.push_back(std::move(item));
        SkipSpace();
        if (Consume("]")) return absl::OkStatus();
        if (!Consume(",")) return Error("expected ',' or ']'");
      }
    }
    if (c == '"') {
      value.type = JsonValue::Type::kString;
      return ParseString(value.text);
    }
    if (Consume("true") || Consume("false")) {
      value.type = JsonValue::Type::kBool;
      value.text = text_[at_ - 1] == 'e' && text_[at_ - 2] == 'u' ? "true" : "false";
      return absl::OkStatus();
    }
    if (Consume("null")) {
      value.type = JsonValue::Type::kNull;
      return absl::OkStatus();
    }
    const size_t start = at_;
    while (at_ < text_.size() &&
           (absl::ascii_isdigit(text_[at_]) || text_[at_] == '-' || text_[at_] == '+' ||
            text_[at_] == '.' || text_[at_] == 'e' || text_[at_] == 'E')) {
      ++at_;
    }
    if (at_ == start) return Error("expected a value");
    value.type = JsonValue::Type::kNumber;
    value.text = std::string(text_.substr(start, at_ - start));
    return absl::OkStatus();
  }

  absl::Status Hex4(char32_t& out) {
    if (at_ + 4 > text_.size()) return Error("short \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[at_++];
      out <<= 4;
      if (h >= '0' && h <= '9')
        out |= h - '0';
      else if (h >= 'a' && h <= 'f')
        out |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F')
        out |= h - 'A' + 10;
      else
        return Error("bad \\u escape");
    }
    return absl::OkStatus();
  }

  absl::Status ParseString(std::string& out) {
    if (!Consume("\"")) return Error("expected a string");
    while (true) {
      if (at_ >= text_.size()) return Error("unterminated string");
      const char c = text_[at_++];
      if (c == '"') return absl::OkStatus();
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= text_.size()) return Error("unterminated escape");
      const char e = text_[at_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          char32_t c32 = 0;
          if (absl::Status s = Hex4(c32); !s.ok()) return s;
          // A surrogate pair (how JSON spells an emoji) is one code point.
          if (c32 >= 0xD800 && c32 < 0xDC00 && Consume("\\u")) {
            char32_t low = 0;
            if (absl::Status s = Hex4(low); !s.ok()) return s;
            if (low >= 0xDC00 && low < 0xE000) {
              c32 = 0x10000 + ((c32 - 0xD800) << 10) + (low - 0xDC00);
            } else {
              AppendUtf8(0xFFFD, out);
              c32 = low;
            }
          }
          if (c32 >= 0xD800 && c32 < 0xE000) c32 = 0xFFFD;
          AppendUtf8(c32, out);
          break;
        }
        default:
          return Error("bad escape");
      }
    }
  }

  absl::string_view text_;
  size_t at_ = 0;
};

// Code points a YAML reader treats as line breaks, byte order marks or non-printable:
// always escaped, so no reader splits or drops them.
bool NeedsEscape(char32_t c) {
  return c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0) || c == 0x2028 || c == 0x2029 ||
         c == 0xFEFF || c == 0xFFFE || c == 0xFFFF;
}

// Whether `text` can be written plain: it reads back as this very string under YAML 1.1
// (PyYAML, kubectl's go-yaml v2) and 1.2 alike. Conservative: letters, digits, '_', '-',
// '.', '/', and inner spaces, starting with a letter, '_' or '/'; never a word that YAML
// 1.1 reads as a bool or null.
bool PlainSafe(absl::string_view text) {
  if (text.empty()) return false;
  for (char32_t c : DecodeUtf8(text)) {
    if (c >= 0x80) {
      if (NeedsEscape(c) || c == 0xFFFD || c == 0x3000) return false;
      continue;
    }
    if (!(absl::ascii_isalnum(static_cast<char>(c)) || c == '_' || c == '-' || c == '.' ||
          c == '/' || c == ' ')) {
      return false;
    }
  }
  const unsigned char first = static_cast<unsigned char>(text.front());
  if (!(absl::ascii_isalpha(first) || first == '_' || first == '/' || first >= 0x80)) return false;
  if (text.back() == ' ') return false;
  const std::string lower = absl::AsciiStrToLower(text);
  for (const char* word : {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}) {
    if (lower == word) return false;
  }
  return true;
}

std::string Quoted(absl::string_view text) {
  std::string out = "\"";
  for (char32_t c : DecodeUtf8(text)) {
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\r':
        out += "\\r";
        continue;
      default:
        break;
    }
    if (NeedsEscape(c)) {
      absl::StrAppendFormat(&out, c < 0x100 ? "\\x%02X" : "\\u%04X", static_cast<uint32_t>(c));
    } else {
      AppendUtf8(c, out);
    }
  }
  out += '"';
  return out;
}

std::string StringScalar(absl::string_view text) {
  return PlainSafe(text) ? std::string(text) : Quoted(text);
}

// A JSON number as YAML 1.1 reads it: a float needs a '.' and a signed exponent there
// ("1e+30" would be a string to PyYAML).
std::string NumberScalar(const std::string& text) {
  const size_t e = text.find_first_of("eE");
  if (e == std::string::npos) return text;
  std::string mantissa = text.substr(0, e);
  std::string exponent = text.substr(e + 1);
  if (mantissa.find('.') == std::string::npos) mantissa += ".0";
  if (!exponent.empty() && exponent[0] != '+' && exponent[0] != '-') exponent = "+" + exponent;
  return absl::StrCat(mantissa, "e", exponent);
}

std::string Scalar(const JsonValue& v) {
  switch (v.type) {
    case JsonValue::Type::kNull:
      return "null";
    case JsonValue::Type::kBool:
      return v.text;
    case JsonValue::Type::kNumber:
      return NumberScalar(v.text);
    case JsonValue::Type::kString:
      return StringScalar(v.text);
    case JsonValue::Type::kArray:
      return "[]";
    case JsonValue::Type::kObject:
      return "{}";
  }
  return "null";
}

bool IsBlock(const JsonValue& v) {
  return (v.type == JsonValue::Type::kObject && !v.members.empty()) ||
         (v.type == JsonValue::Type::kArray && !v.items.empty());
}

void EmitBlock(const JsonValue& v, int indent, std::string& out);

void EmitMapping(const JsonValue& v, int indent, std::string& out) {
  for (const auto& [key, value] : v.members) {
    absl::StrAppend(&out, std::string(indent, ' '), StringScalar(key), ":");
    if (!IsBlock(value)) {
      absl::StrAppend(&out, " ", Scalar(value), "\n");
      continue;
    }
    out += '\n';
    // Sequences under a key at the key's own indent, as kubectl writes them.
    EmitBlock(value, value.type == JsonValue::Type::kArray ? indent : indent + 2, out);
  }
}

void EmitSequence(const JsonValue& v, int indent, std::string& out) {
  for (const JsonValue& item : v.items) {
    absl::StrAppend(&out, std::string(indent, ' '), "-");
    if (!IsBlock(item)) {
      absl::StrAppend(&out, " ", Scalar(item), "\n");
      continue;
    }
    // The item's block at indent + 2, its first line moved up beside the dash.
    std::string block;
    EmitBlock(item, indent + 2, block);
    absl::StrAppend(&out, " ", block.substr(indent + 2));
  }
}

void EmitBlock(const JsonValue& v, int indent, std::string& out) {
  if (v.type == JsonValue::Type::kObject) {
    EmitMapping(v, indent, out);
  } else {
    EmitSequence(v, indent, out);
  }
}

}  // namespace

absl::StatusOr<std::string> JsonToYaml(absl::string_view json) {
  absl::StatusOr<JsonValue> value = JsonParser(json).ParseDocument();
  if (!value.ok()) return value.status();
  std::string out;
  if (IsBlock(*value)) {
    EmitBlock(*value, 0, out);
  } else {
    absl::StrAppend(&out, Scalar(*value), "\n");
  }
  return out;
}

std::string ToYaml(const google::protobuf::Message& message) {
  // ToJson's output is always JSON, so this cannot fail.
  absl::StatusOr<std::string> yaml = JsonToYaml(ToJson(message));
  return yaml.ok() ? *std::move(yaml) : "{}\n";
}

}  // namespace sanhak::ctl
