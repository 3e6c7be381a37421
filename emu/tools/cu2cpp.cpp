// cu2cpp: turns one CUDA source file into host C++ for the emulator, changing only what a
// host compiler cannot parse and keeping every line where it was (so compiler messages,
// sanitizer reports and __LINE__ point at the original .cu file):
//   kernel<<<grid, block, smem, stream>>>(args)
//       -> ::cuda_emu::launch("kernel", __FILE__, __LINE__, kernel,
//                             ::cuda_emu::make_config(grid, block, smem, stream), args)
//   __shared__ T name[A][B];          (function scope)
//       -> static char name##_emu_key_; auto& name = ::cuda_emu::static_shared<T[A][B]>(...);
//   extern __shared__ T name[];
//       -> T* const name = reinterpret_cast<T*>(::cuda_emu::dynamic_shared());
// Comments, string and character literals are left alone.
//
// usage: cu2cpp IN.cu OUT.cpp [ORIGINAL_PATH_FOR_#line]
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& file, const std::string& src, size_t pos,
                      const std::string& msg) {
  size_t line = 1;
  for (size_t i = 0; i < pos && i < src.size(); ++i) line += src[i] == '\n';
  std::cerr << file << ":" << line << ": cu2cpp: " << msg << "\n";
  std::exit(2);
}

// Marks every byte that is code (not inside a comment or a string/char literal).
std::vector<bool> code_mask(const std::string& s) {
  std::vector<bool> code(s.size(), true);
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 2, "//") == 0) {
      while (i < s.size() && s[i] != '\n') code[i++] = false;
    } else if (s.compare(i, 2, "/*") == 0) {
      size_t e = s.find("*/", i + 2);
      e = e == std::string::npos ? s.size() : e + 2;
      while (i < e) code[i++] = false;
    } else if (s[i] == '"' || s[i] == '\'') {
      // Raw strings are not used in kernels; plain literals with escapes are.
      const char q = s[i];
      code[i++] = false;
      while (i < s.size() && s[i] != q) {
        if (s[i] == '\\' && i + 1 < s.size()) code[i++] = false;
        code[i++] = false;
      }
      if (i < s.size()) code[i++] = false;
    } else {
      ++i;
    }
  }
  return code;
}

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Start of the kernel expression ending just before `end` (exclusive): an identifier,
// possibly qualified (a::b) and followed by template arguments (k<true, 4>).
size_t kernel_expr_start(const std::string& s, size_t end) {
  size_t i = end;
  while (i > 0 && std::isspace(static_cast<unsigned char>(s[i - 1]))) --i;
  if (i > 0 && s[i - 1] == '>') {  // template arguments: walk back to the matching '<'
    int depth = 0;
    while (i > 0) {
      const char c = s[--i];
      if (c == '>') ++depth;
      if (c == '<' && --depth == 0) break;
    }
    while (i > 0 && std::isspace(static_cast<unsigned char>(s[i - 1]))) --i;
  }
  for (;;) {
    while (i > 0 && ident_char(s[i - 1])) --i;
    if (i >= 2 && s[i - 1] == ':' && s[i - 2] == ':') {
      i -= 2;
      continue;
    }
    break;
  }
  return i;
}

// Index just past the bracket matching the opener at `open` (one of ( [ {), at code positions.
size_t match_close(const std::string& s, const std::vector<bool>& code, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (!code[i]) continue;
    const char c = s[i];
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string::npos;
}

std::string rewrite_launches(const std::string& file, const std::string& s) {
  const std::vector<bool> code = code_mask(s);
  std::string out;
  size_t copied = 0, i = 0;
  while ((i = s.find("<<<", i)) != std::string::npos) {
    if (!code[i]) {
      i += 3;
      continue;
    }
    const size_t kstart = kernel_expr_start(s, i);
    std::string kexpr = s.substr(kstart, i - kstart);
    while (!kexpr.empty() && std::isspace(static_cast<unsigned char>(kexpr.back()))) kexpr.pop_back();
    if (kexpr.empty()) die(file, s, i, "no kernel name before <<<");
    // The configuration: up to the matching >>> at bracket depth 0.
    size_t j = i + 3;
    int depth = 0;
    size_t cfg_end = std::string::npos;
    for (; j + 2 < s.size(); ++j) {
      if (!code[j]) continue;
      const char c = s[j];
      if (c == '(' || c == '[' || c == '{') ++depth;
      if (c == ')' || c == ']' || c == '}') --depth;
      if (depth == 0 && s.compare(j, 3, ">>>") == 0) {
        cfg_end = j;
        break;
      }
    }
    if (cfg_end == std::string::npos) die(file, s, i, "no >>> after <<<");
    const std::string cfg = s.substr(i + 3, cfg_end - (i + 3));
    size_t a = cfg_end + 3;
    while (a < s.size() && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    if (a >= s.size() || s[a] != '(') die(file, s, cfg_end, "expected ( after >>>");
    const size_t args_end = match_close(s, code, a);
    if (args_end == std::string::npos) die(file, s, a, "unbalanced kernel arguments");
    std::string args = s.substr(a + 1, args_end - 1 - (a + 1));
    bool args_empty = true;
    for (char c : args) args_empty &= std::isspace(static_cast<unsigned char>(c)) != 0;
    std::string name;
    for (char c : kexpr) name += (c == '\n' || c == '"') ? ' ' : c;

    out.append(s, copied, kstart - copied);
    out += "::cuda_emu::launch(\"" + name + "\", __FILE__, __LINE__, " + kexpr +
           ", ::cuda_emu::make_config(" + cfg + ")";
    // The text between >>> and ( (usually nothing) keeps its newlines.
    for (size_t k = cfg_end + 3; k < a; ++k)
      if (s[k] == '\n') out += '\n';
    if (!args_empty) out += ", " + args;
    out += ")";
    copied = i = args_end;
  }
  out.append(s, copied, std::string::npos);
  return out;
}

std::string rewrite_shared(const std::string& file, const std::string& s) {
  // extern __shared__ [__align__(n)] T name[];
  static const std::regex dyn(
      R"(extern\s+(?:__align__\s*\(\s*\d+\s*\)\s*)?__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s*)?([A-Za-z_][\w:\s]*?)\s*\b([A-Za-z_]\w*)\s*\[\s*\]\s*;)");
  // __shared__ [__align__(n)] T name[dims]... ;
  static const std::regex stat(
      R"(__shared__\s+(?:__align__\s*\(\s*(\d+)\s*\)\s*)?([A-Za-z_][\w:<>,\s]*?)\s*\b([A-Za-z_]\w*)\s*((?:\[[^\];]*\]\s*)*);)");
  std::string t = std::regex_replace(
      s, dyn, "$1* const $2 = reinterpret_cast<$1*>(::cuda_emu::dynamic_shared());");
  std::string out;
  auto begin = std::sregex_iterator(t.begin(), t.end(), stat);
  size_t copied = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    const size_t pos = static_cast<size_t>(m.position(0));
    // Skip matches inside comments (e.g. documentation that mentions __shared__).
    const std::vector<bool> code = code_mask(t.substr(0, pos + 1));
    if (!code[pos]) continue;
    const std::string align = m[1].matched ? m[1].str() : "0";
    const std::string type = m[2].str(), name = m[3].str(), dims = m[4].str();
    if (type.find(',') != std::string::npos && type.find('<') == std::string::npos)
      die(file, t, pos, "one __shared__ declaration per statement, please");
    out.append(t, copied, pos - copied);
    std::string decl = "static char " + name + "_emu_key_; auto& " + name +
                       " = ::cuda_emu::static_shared<" + type + " " + dims + ">(&" + name +
                       "_emu_key_, " + align + ", \"" + name + "\");";
    for (char c : m[0].str())
      if (c == '\n') decl += '\n';
    out += decl;
    copied = pos + m[0].length();
  }
  out.append(t, copied, std::string::npos);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: cu2cpp IN.cu OUT.cpp [ORIGINAL_PATH]\n";
    return 2;
  }
  const std::string in = argv[1], outp = argv[2], orig = argc > 3 ? argv[3] : argv[1];
  std::ifstream f(in, std::ios::binary);
  if (!f) {
    std::cerr << "cu2cpp: cannot read " << in << "\n";
    return 2;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = rewrite_shared(in, rewrite_launches(in, ss.str()));
  const std::string tmp = outp + ".tmp";
  {
    std::ofstream o(tmp, std::ios::binary);
    o << "#line 1 \"" << orig << "\"\n" << text;
    if (!o) {
      std::cerr << "cu2cpp: cannot write " << tmp << "\n";
      return 2;
    }
  }
  if (std::rename(tmp.c_str(), outp.c_str()) != 0) {
    std::cerr << "cu2cpp: cannot rename " << tmp << " to " << outp << "\n";
    return 2;
  }
  return 0;
}
