#include "cgan/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "cgan/io_util.hpp"

namespace cgan {

namespace {

using json = nlohmann::json;

DType parse_dtype(const std::string& s, const std::string& path, const std::string& name) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  throw Error("'" + path + "': tensor '" + name + "' has unsupported dtype '" + s +
              "' (supported: F32, F16, BF16)");
}

}  // namespace

bool SafeTensors::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(),
                     [&](const auto& kv) { return kv.first == name; });
}

const Tensor& SafeTensors::at(const std::string& name) const {
  for (const auto& kv : tensors)
    if (kv.first == name) return kv.second;
  throw Error("tensor '" + name + "' not found");
}

Tensor SafeTensors::f32(const std::string& name) const {
  const Tensor& t = at(name);
  if (t.dtype() == DType::F32) return t;
  return Tensor::from_vector(t.shape(), t.to_vector());
}

SafeTensors read_safetensors(const std::string& path) {
  return parse_safetensors(read_file(path), path);
}

SafeTensors parse_safetensors(const std::vector<unsigned char>& buf, const std::string& path) {
  const auto fail = [&](const std::string& why) -> Error {
    return Error("'" + path + "' is not a valid safetensors file: " + why);
  };
  if (buf.size() < 8) throw fail("truncated (" + std::to_string(buf.size()) + " bytes)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | buf[static_cast<size_t>(i)];
  // The JSON header follows the 8-byte length: anything else is another kind of file.
  if (header_len > buf.size() - 8 && buf.size() > 8 && buf[8] != '{')
    throw fail("it does not start with a safetensors header (an image, a .pth or a .npy "
               "file?); convert PyTorch weights with scripts/convert_pth_to_safetensors.py, "
               "a folder of .npy files with cgan_convert");
  if (header_len > buf.size() - 8)
    throw fail("header size " + std::to_string(header_len) + " exceeds the file size " +
               std::to_string(buf.size()) + " (truncated?)");
  // nlohmann's parser keeps the last of duplicate keys silently; the callback sees every
  // top-level key, so duplicates are caught during the one parse.
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t on_key = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second) duplicate = key;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(buf.begin() + 8, buf.begin() + 8 + static_cast<std::ptrdiff_t>(header_len),
                         on_key);
  } catch (const json::exception& e) {
    throw fail(std::string("bad JSON header: ") + e.what());
  }
  if (!duplicate.empty()) throw fail("duplicate tensor name '" + duplicate + "'");
  if (!header.is_object()) throw fail("header is not a JSON object");
  const size_t data_start = 8 + header_len;
  const size_t data_size = buf.size() - data_start;

  SafeTensors out;
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    size_t begin, end;
  };
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (!it->is_object()) throw fail("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) throw fail("__metadata__ value '" + m.key() + "' is not a string");
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const json& e = *it;
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") ||
        !e.contains("data_offsets"))
      throw fail("entry '" + name + "' lacks dtype/shape/data_offsets");
    if (!e["dtype"].is_string() || !e["shape"].is_array() || !e["data_offsets"].is_array() ||
        e["data_offsets"].size() != 2)
      throw fail("entry '" + name + "' is malformed");
    Entry en;
    en.name = name;
    en.dtype = parse_dtype(e["dtype"].get<std::string>(), path, name);
    for (const json& d : e["shape"]) {
      if (!d.is_number_unsigned()) throw fail("entry '" + name + "' has a bad shape");
      en.shape.push_back(d.get<int64_t>());
    }
    if (!e["data_offsets"][0].is_number_unsigned() || !e["data_offsets"][1].is_number_unsigned())
      throw fail("entry '" + name + "' has bad data_offsets");
    en.begin = e["data_offsets"][0].get<size_t>();
    en.end = e["data_offsets"][1].get<size_t>();
    if (en.begin > en.end || en.end > data_size)
      throw fail("tensor '" + name + "' data [" + std::to_string(en.begin) + "," +
                 std::to_string(en.end) + ") lies outside the " + std::to_string(data_size) +
                 "-byte data section (truncated?)");
    int64_t numel = 0;
    try {
      numel = shape_numel(en.shape);
    } catch (const Error& err) {
      throw fail("tensor '" + name + "': " + err.what());
    }
    size_t expect = 0;
    if (__builtin_mul_overflow(static_cast<size_t>(numel), dtype_size(en.dtype), &expect))
      throw fail("tensor '" + name + "' has shape " + shape_str(en.shape) + ", too large");
    if (en.end - en.begin != expect)
      throw fail("tensor '" + name + "' has " + std::to_string(en.end - en.begin) +
                 " bytes but shape " + shape_str(en.shape) + " " + dtype_name(en.dtype) +
                 " needs " + std::to_string(expect));
    entries.push_back(std::move(en));
  }
  // Overlapping data would alias two tensors: reject.
  std::vector<const Entry*> order;
  for (const Entry& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](auto a, auto b) { return a->begin < b->begin; });
  for (size_t i = 1; i < order.size(); ++i)
    if (order[i]->begin < order[i - 1]->end && order[i]->begin != order[i]->end)
      throw fail("tensors '" + order[i - 1]->name + "' and '" + order[i]->name + "' overlap");

  // Header order (json objects are sorted by key in nlohmann::json; that is also what
  // safetensors writers produce) keeps loading deterministic.
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty_cpu(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw(), buf.data() + data_start + e.begin, e.end - e.begin);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata, Context* ctx) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  size_t offset = 0;
  std::vector<Tensor> host;
  for (const auto& [name, t] : tensors) {
    CGAN_CHECK(name != "__metadata__", "'__metadata__' is not a valid tensor name");
    CGAN_CHECK(names.insert(name).second, "duplicate tensor name '" << name << "' writing '"
                                                                     << path << "'");
    CGAN_CHECK(t.defined(), "tensor '" << name << "' is undefined");
    Tensor h = t;
    if (t.is_cuda()) {
      CGAN_CHECK(ctx != nullptr, "writing CUDA tensor '" << name << "' needs a context");
      h = t.to_cpu(*ctx);
    }
    header[name] = {{"dtype", dtype_name(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + h.nbytes()}}};
    offset += h.nbytes();
    host.push_back(h);
  }
  std::string hs = header.dump();
  while ((8 + hs.size()) % 8) hs.push_back(' ');  // align data to 8 bytes, as the spec allows
  std::vector<unsigned char> out(8 + hs.size() + offset);
  const uint64_t n = hs.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<unsigned char>(n >> (8 * i));
  std::memcpy(out.data() + 8, hs.data(), hs.size());
  size_t pos = 8 + hs.size();
  for (const Tensor& h : host) {
    if (h.nbytes()) std::memcpy(out.data() + pos, h.raw(), h.nbytes());
    pos += h.nbytes();
  }
  write_file_atomic(path, out.data(), out.size());
}

}  // namespace cgan
