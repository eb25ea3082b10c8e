// ringlite: one-line message text (ringlite/error.hpp).
#include "ringlite/error.hpp"

namespace ringlite {

void append_one_line(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : text) {
    if (c >= 0x20 && c != 0x7F) {
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_one_line(out, text);
  return out;
}

}  // namespace ringlite
