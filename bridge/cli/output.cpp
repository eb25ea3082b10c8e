// Result formatting for query and tail (see output.hpp for the three formats).
#include "output.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "ringlite/error.hpp"

namespace ringlite::cli {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex(std::string& out, std::string_view bytes) {
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
}

/// Shortest text that reads back as the same double, always recognizable as a real
/// ("1.0", not "1"); non-finite values as SQLite prints them.
void append_real(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v < 0 ? "-Inf" : "Inf";
    return;
  }
  const std::string s = fmt::format("{}", v);
  out += s;
  if (s.find_first_of(".e") == std::string::npos) out += ".0";
}

/// Length of the valid UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most
/// U+10FFFF) starting at s[i], or 0 when the bytes there are not one.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return n;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
      ++i;
    } else if (const std::size_t n = utf8_length(s, i); n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    }
  }
  out += '"';
}

/// Text for a terminal cell: one line, control characters spelled out.
void append_display_text(std::string& out, std::string_view s) { append_one_line(out, s); }

/// Terminal columns a UTF-8 string takes, approximated as its code points.
std::size_t display_width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

void write_out(std::FILE* out, std::string& buf) {
  if (!buf.empty()) std::fwrite(buf.data(), 1, buf.size(), out);
  buf.clear();
}

class TableWriter final : public RowWriter {
 public:
  explicit TableWriter(std::FILE* out) : out_(out) {}

  void columns(std::vector<std::string> names) override {
    print_rows();
    names_.clear();
    widths_.clear();
    for (const auto& n : names) {
      std::string shown;
      append_display_text(shown, n);
      widths_.push_back(display_width(shown));
      names_.push_back(std::move(shown));
    }
    header_done_ = false;
  }

  void row(std::span<const Cell> cells) override {
    auto& r = rows_.emplace_back();
    r.reserve(cells.size());
    for (const Cell& c : cells) {
      Shown s;
      switch (c.kind) {
        case Cell::Kind::null:
          s.text = "NULL";
          break;
        case Cell::Kind::integer:
          s.text = fmt::format("{}", c.integer), s.right = true;
          break;
        case Cell::Kind::real:
          append_real(s.text, c.real), s.right = true;
          break;
        case Cell::Kind::text:
          append_display_text(s.text, c.bytes);
          break;
        case Cell::Kind::blob:
          s.text = "x'";
          append_hex(s.text, c.bytes);
          s.text += '\'';
          break;
      }
      r.push_back(std::move(s));
    }
    if (rows_.size() >= kChunk) print_rows();
  }

  void flush() override {
    print_rows();
    std::fflush(out_);
  }

 private:
  struct Shown {
    std::string text;
    bool right = false;
  };
  static constexpr std::size_t kChunk = 65536;  // rows aligned together; later chunks keep widths

  void pad(std::size_t n) { buf_.append(n, ' '); }

  void line(const std::vector<Shown>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::size_t w = display_width(cells[i].text);
      const std::size_t gap = i < widths_.size() && widths_[i] > w ? widths_[i] - w : 0;
      if (i > 0) buf_ += "  ";
      if (cells[i].right) pad(gap);
      buf_ += cells[i].text;
      if (!cells[i].right && i + 1 < cells.size()) pad(gap);
    }
    buf_ += '\n';
  }

  void print_rows() {
    if (names_.empty()) {
      rows_.clear();
      return;
    }
    for (const auto& r : rows_) {
      for (std::size_t i = 0; i < r.size() && i < widths_.size(); ++i) {
        widths_[i] = std::max(widths_[i], display_width(r[i].text));
      }
    }
    if (!header_done_) {
      if (sets_++ > 0) buf_ += '\n';  // a blank line between result sets
      std::vector<Shown> header, rule;
      for (std::size_t i = 0; i < names_.size(); ++i) {
        header.push_back({names_[i], false});
        rule.push_back({std::string(widths_[i], '-'), false});
      }
      line(header);
      line(rule);
      header_done_ = true;
    }
    for (const auto& r : rows_) {
      line(r);
      if (buf_.size() > (1 << 16)) write_out(out_, buf_);
    }
    rows_.clear();
    write_out(out_, buf_);
  }

  std::FILE* out_;
  std::vector<std::string> names_;
  std::vector<std::size_t> widths_;
  std::vector<std::vector<Shown>> rows_;
  bool header_done_ = false;
  int sets_ = 0;
  std::string buf_;
};

class CsvWriter final : public RowWriter {
 public:
  explicit CsvWriter(std::FILE* out) : out_(out) {}

  void columns(std::vector<std::string> names) override {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i > 0) buf_ += ',';
      field(names[i]);
    }
    buf_ += "\r\n";
  }

  void row(std::span<const Cell> cells) override {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) buf_ += ',';
      const Cell& c = cells[i];
      switch (c.kind) {
        case Cell::Kind::null:
          break;
        case Cell::Kind::integer:
          buf_ += fmt::format("{}", c.integer);
          break;
        case Cell::Kind::real:
          append_real(buf_, c.real);
          break;
        case Cell::Kind::text:
          field(c.bytes);
          break;
        case Cell::Kind::blob:
          append_hex(buf_, c.bytes);
          break;
      }
    }
    buf_ += "\r\n";
    if (buf_.size() > (1 << 16)) write_out(out_, buf_);
  }

  void flush() override {
    write_out(out_, buf_);
    std::fflush(out_);
  }

 private:
  void field(std::string_view s) {
    if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
      buf_ += s;
      return;
    }
    buf_ += '"';
    for (char ch : s) {
      if (ch == '"') buf_ += '"';
      buf_ += ch;
    }
    buf_ += '"';
  }

  std::FILE* out_;
  std::string buf_;
};

class JsonWriter final : public RowWriter {
 public:
  explicit JsonWriter(std::FILE* out) : out_(out) {}

  void columns(std::vector<std::string> names) override {
    keys_.clear();
    for (const auto& n : names) {
      std::string k;
      append_json_string(k, n);
      k += ':';
      keys_.push_back(std::move(k));
    }
  }

  void row(std::span<const Cell> cells) override {
    buf_ += '{';
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) buf_ += ',';
      buf_ += i < keys_.size() ? keys_[i] : fmt::format("\"column{}\":", i + 1);
      const Cell& c = cells[i];
      switch (c.kind) {
        case Cell::Kind::null:
          buf_ += "null";
          break;
        case Cell::Kind::integer:
          buf_ += fmt::format("{}", c.integer);
          break;
        case Cell::Kind::real:
          if (std::isfinite(c.real)) {
            append_real(buf_, c.real);
          } else {
            buf_ += "null";
          }
          break;
        case Cell::Kind::text:
          append_json_string(buf_, c.bytes);
          break;
        case Cell::Kind::blob:
          buf_ += '"';
          append_hex(buf_, c.bytes);
          buf_ += '"';
          break;
      }
    }
    buf_ += "}\n";
    if (buf_.size() > (1 << 16)) write_out(out_, buf_);
  }

  void flush() override {
    write_out(out_, buf_);
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  std::vector<std::string> keys_;
  std::string buf_;
};

}  // namespace

Format parse_format(std::string_view name) {
  if (name == "table") return Format::table;
  if (name == "csv") return Format::csv;
  if (name == "json") return Format::json;
  throw Error(Errc::usage,
              fmt::format("cannot use format '{}': expected table, csv or json", name));
}

std::string one_line(std::string_view text) { return ringlite::one_line(text); }

std::string sql_literal(const Cell& c) {
  std::string out;
  switch (c.kind) {
    case Cell::Kind::null:
      out = "NULL";
      break;
    case Cell::Kind::integer:
      out = fmt::format("{}", c.integer);
      break;
    case Cell::Kind::real:
      append_real(out, c.real);
      break;
    case Cell::Kind::text:
      out += '\'';
      for (char ch : c.bytes) {
        if (ch == '\'') out += '\'';
        out += ch;
      }
      out += '\'';
      break;
    case Cell::Kind::blob:
      out = "x'";
      append_hex(out, c.bytes);
      out += '\'';
      break;
  }
  return out;
}

std::unique_ptr<RowWriter> make_writer(Format format, std::FILE* out) {
  switch (format) {
    case Format::csv:
      return std::make_unique<CsvWriter>(out);
    case Format::json:
      return std::make_unique<JsonWriter>(out);
    case Format::table:
      break;
  }
  return std::make_unique<TableWriter>(out);
}

}  // namespace ringlite::cli
