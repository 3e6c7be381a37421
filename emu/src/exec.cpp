// The kernel executor: each CUDA thread of a block is a fiber (Boost.Context); the block's
// fibers run cooperatively on one host thread, each until its next barrier, warp-synchronous
// intrinsic or exit. Between those points the scheduler checks what the hardware requires
// (every thread at the same barrier, every lane of a mask in the same intrinsic, ...) and
// reports a violation naming kernel, block and thread instead of guessing what a GPU would do.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <boost/context/fiber.hpp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

#include "cuda_emu/device.hpp"
#include "state.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CUDA_EMU_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define CUDA_EMU_TSAN 1
#endif

namespace ctx = boost::context;

namespace cuda_emu::detail {

Lane* g_lane = nullptr;
uint3 g_block_idx{0, 0, 0};
dim3 g_block_dim{1, 1, 1};
dim3 g_grid_dim{1, 1, 1};

namespace {

enum class St { Ready, Barrier, Warp, Done, Aborted };

struct LaneImpl : Lane {
  int linear = 0, warp = 0, lane = 0;
  St st = St::Ready;
  const char* file = "";
  int line = 0;
  BarrierKind bkind = BarrierKind::Plain;
  int pred = 0, bresult = 0;
  WarpKind wkind = WarpKind::Sync;
  unsigned mask = 0;
  uint64_t value = 0, wresult = 0;
  int arg = 0, width = 32;
  ctx::fiber fib, sink;
  const void* stack_bottom = nullptr;
  size_t stack_size = 0;
  void* fake_stack = nullptr;
#if CUDA_EMU_TSAN
  void* tsan_fiber = nullptr;
#endif
};

// Stacks are mmap'd once with a guard page below and reused for every later thread.
class StackPool {
 public:
  ctx::stack_context allocate() {
    static const size_t page = size_t(sysconf(_SC_PAGESIZE));
    const size_t size = options().stack_bytes;
    if (size != size_) {  // the option changed: drop stacks of the old size
      for (void* b : free_) munmap(b, size_ + page);
      free_.clear();
      size_ = size;
    }
    char* base;
    if (!free_.empty()) {
      base = static_cast<char*>(free_.back());
      free_.pop_back();
    } else {
      void* m = mmap(nullptr, size_ + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
      if (m == MAP_FAILED) throw std::bad_alloc();
      mprotect(m, page, PROT_NONE);
      base = static_cast<char*>(m);
    }
    // No unpoisoning needed: a stack comes back here only from a thread that returned (its
    // frames unpoisoned on the way out); threads abandoned after a violation keep theirs.
    ctx::stack_context sc;
    sc.size = size_;
    sc.sp = base + page + size_;
    last_bottom = base + page;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) {
    static const size_t page = size_t(sysconf(_SC_PAGESIZE));
    char* base = static_cast<char*>(sc.sp) - sc.size - page;
    if (sc.size == size_) {
      free_.push_back(base);
    } else {
      munmap(base, sc.size + page);
    }
  }
  const void* last_bottom = nullptr;

 private:
  size_t size_ = 0;
  std::vector<void*> free_;
};
StackPool& stack_pool() {
  static StackPool* p = new StackPool;  // never destroyed: abandoned fibers keep stacks
  return *p;
}
struct PoolAllocator {
  ctx::stack_context allocate() { return stack_pool().allocate(); }
  void deallocate(ctx::stack_context& sc) noexcept { stack_pool().deallocate(sc); }
};

// Fibers of a block that hit a violation are never resumed nor unwound; they are kept here
// (reachable, so leak checkers stay quiet) instead.
std::vector<ctx::fiber>& graveyard() {
  static auto* g = new std::vector<ctx::fiber>;
  return *g;
}

struct SharedAlloc {
  const void* key;
  size_t offset, bytes;
  const char* name;
};

struct BlockRun {
  const Grid* grid = nullptr;
  std::unique_ptr<LaneImpl[]> lanes;
  int n = 0;
  uint3 bidx{0, 0, 0};
  bool failed = false;
  // Shared memory: [dynamic | redzone | static 1 | redzone | static 2 ...]
  char* arena = nullptr;
  size_t arena_cap = 0, static_end = 0, static_bytes = 0;
  std::vector<SharedAlloc> statics;
  // Stack of the host thread that runs the scheduler (for the sanitizers' fiber switches).
  const void* main_bottom = nullptr;
  size_t main_size = 0;
  void* sched_fake = nullptr;
#if CUDA_EMU_TSAN
  void* tsan_main = nullptr;
#endif
};
BlockRun* g_run = nullptr;

constexpr size_t kArenaBytes = 512 * 1024;
constexpr size_t kRedzone = 64;
char* arena() {
  static char* a = static_cast<char*>(::operator new(kArenaBytes, std::align_val_t(256)));
  return a;
}

__attribute__((no_sanitize("address"))) void fill_poison(char* p, size_t n) {
  // 0xFF bytes: every float and double a NaN, every integer -1.
  volatile char* v = p;
  for (size_t i = 0; i < n; ++i) v[i] = char(0xFF);
}

const char* warp_kind_name(WarpKind k) {
  switch (k) {
    case WarpKind::Shfl: return "__shfl_sync";
    case WarpKind::ShflUp: return "__shfl_up_sync";
    case WarpKind::ShflDown: return "__shfl_down_sync";
    case WarpKind::ShflXor: return "__shfl_xor_sync";
    case WarpKind::Ballot: return "__ballot_sync";
    case WarpKind::Any: return "__any_sync";
    case WarpKind::All: return "__all_sync";
    case WarpKind::Sync: return "__syncwarp";
  }
  return "?";
}
const char* barrier_kind_name(BarrierKind k) {
  switch (k) {
    case BarrierKind::Plain: return "__syncthreads";
    case BarrierKind::Count: return "__syncthreads_count";
    case BarrierKind::And: return "__syncthreads_and";
    case BarrierKind::Or: return "__syncthreads_or";
  }
  return "?";
}

std::string dims(const uint3& v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}
std::string site(const char* file, int line) { return std::string(file) + ":" + std::to_string(line); }

std::string where(const LaneImpl* l) {
  std::string s = "kernel '" + g_run->grid->name + "' (launched at " + g_run->grid->site +
                  ", grid " + dims({g_run->grid->grid.x, g_run->grid->grid.y, g_run->grid->grid.z}) +
                  ", block " + dims({g_run->grid->block.x, g_run->grid->block.y, g_run->grid->block.z}) +
                  "), block " + dims(g_run->bidx);
  if (l) s += ", thread " + dims(l->tid) + " (warp " + std::to_string(l->warp) + ", lane " +
              std::to_string(l->lane) + ")";
  return s;
}

void violation(const LaneImpl* l, const std::string& what) {
  g_run->failed = true;
  set_sticky_error("cuda-emu: " + where(l) + ": " + what);
}

// ---- fiber switches, with the sanitizers told about each stack change -----------------------
void resume_lane(LaneImpl* l) {
  g_lane = l;
#if CUDA_EMU_ASAN
  __sanitizer_start_switch_fiber(&g_run->sched_fake, l->stack_bottom, l->stack_size);
#endif
#if CUDA_EMU_TSAN
  __tsan_switch_to_fiber(l->tsan_fiber, 0);
#endif
  l->fib = std::move(l->fib).resume();
#if CUDA_EMU_ASAN
  __sanitizer_finish_switch_fiber(g_run->sched_fake, nullptr, nullptr);
#endif
  g_lane = nullptr;
}

void yield_lane(LaneImpl* l) {
#if CUDA_EMU_ASAN
  __sanitizer_start_switch_fiber(&l->fake_stack, g_run->main_bottom, g_run->main_size);
#endif
#if CUDA_EMU_TSAN
  __tsan_switch_to_fiber(g_run->tsan_main, 0);
#endif
  l->sink = std::move(l->sink).resume();
#if CUDA_EMU_ASAN
  __sanitizer_finish_switch_fiber(l->fake_stack, &g_run->main_bottom, &g_run->main_size);
#endif
}

LaneImpl* self() { return static_cast<LaneImpl*>(g_lane); }

[[noreturn]] void abort_lane(LaneImpl* l) {
  l->st = St::Aborted;
  for (;;) yield_lane(l);  // never resumed
}

void start_fibers(BlockRun& run) {
  for (int i = 0; i < run.n; ++i) {
    LaneImpl* l = &run.lanes[i];
    l->st = St::Ready;
    l->fib = ctx::fiber(std::allocator_arg, PoolAllocator{}, [l](ctx::fiber&& sink) {
      l->sink = std::move(sink);
#if CUDA_EMU_ASAN
      __sanitizer_finish_switch_fiber(nullptr, &g_run->main_bottom, &g_run->main_size);
#endif
      g_run->grid->body();
      l->st = St::Done;
#if CUDA_EMU_ASAN
      __sanitizer_start_switch_fiber(nullptr, g_run->main_bottom, g_run->main_size);
#endif
#if CUDA_EMU_TSAN
      __tsan_switch_to_fiber(g_run->tsan_main, 0);
#endif
      return std::move(l->sink);
    });
    l->stack_bottom = stack_pool().last_bottom;
    l->stack_size = options().stack_bytes;
  }
}

// "__shfl_xor_sync at file:line with mask 0x0000ffff": the call a waiting lane is in.
std::string warp_call(const LaneImpl* l) {
  char mask[16];
  std::snprintf(mask, sizeof mask, "%08x", l->mask);
  return std::string(warp_kind_name(l->wkind)) + " at " + site(l->file, l->line) + " with mask 0x" + mask;
}

// Lanes waiting at warp-synchronous calls whose whole mask has arrived go on; returns whether
// any did. Mask errors are violations.
bool release_warps(BlockRun& run) {
  bool released = false;
  for (int i = 0; i < run.n && !run.failed; ++i) {
    LaneImpl* l = &run.lanes[i];
    if (l->st != St::Warp) continue;
    const int base = l->warp * 32;
    if (!((l->mask >> l->lane) & 1u)) {
      violation(l, warp_call(l) + ", which does not include the calling lane");
      return false;
    }
    bool ready = true;
    for (int b = 0; b < 32; ++b) {
      if (!((l->mask >> b) & 1u)) continue;
      const int idx = base + b;
      if (idx >= run.n) {
        violation(l, warp_call(l) + " names lane " + std::to_string(b) +
                         ", which does not exist (this warp has only " +
                         std::to_string(run.n - base) + " threads)");
        return false;
      }
      LaneImpl* m = &run.lanes[idx];
      if (m->st == St::Done) {
        violation(l, warp_call(l) + " names lane " + std::to_string(b) + ", which has already exited");
        return false;
      }
      if (m->st != St::Warp) {
        ready = false;
        continue;
      }
      if (m->wkind != l->wkind || m->mask != l->mask) {
        violation(l, warp_call(l) + ", but lane " + std::to_string(b) + " is in " + warp_call(m));
        return false;
      }
    }
    if (!ready) continue;
    // Everyone named is here: compute each lane's result.
    const unsigned mask = l->mask;
    uint64_t vote = 0;
    int all = 1;
    for (int b = 0; b < 32; ++b)
      if ((mask >> b) & 1u) {
        const uint64_t v = run.lanes[base + b].value & 1u;
        vote |= v << b;
        all &= int(v);
      }
    for (int b = 0; b < 32; ++b) {
      if (!((mask >> b) & 1u)) continue;
      LaneImpl* m = &run.lanes[base + b];
      const int w = m->width;
      if (m->wkind <= WarpKind::ShflXor && (w < 1 || w > 32 || (w & (w - 1)) != 0)) {
        violation(m, std::string(warp_kind_name(m->wkind)) + " at " + site(m->file, m->line) +
                         " with width " + std::to_string(w) + " (must be a power of 2 up to 32)");
        return false;
      }
      const int seg = b & ~(w - 1);
      int src = b;
      switch (m->wkind) {
        case WarpKind::Shfl: src = seg + (m->arg & (w - 1)); break;
        case WarpKind::ShflUp: src = (b - seg) >= m->arg ? b - m->arg : b; break;
        case WarpKind::ShflDown: src = (b - seg) + m->arg < w ? b + m->arg : b; break;
        case WarpKind::ShflXor: src = ((b ^ m->arg) & ~(w - 1)) == seg ? (b ^ m->arg) : b; break;
        default: break;
      }
      switch (m->wkind) {
        case WarpKind::Ballot: m->wresult = vote; break;
        case WarpKind::Any: m->wresult = vote != 0; break;
        case WarpKind::All: m->wresult = uint64_t(all); break;
        case WarpKind::Sync: m->wresult = 0; break;
        default:
          // Reading a lane outside the mask is undefined on the GPU: poison it.
          m->wresult = (src >= 0 && src < 32 && ((mask >> src) & 1u)) ? run.lanes[base + src].value
                                                                       : ~uint64_t(0);
      }
    }
    for (int b = 0; b < 32; ++b)
      if ((mask >> b) & 1u) run.lanes[base + b].st = St::Ready;
    released = true;
  }
  return released;
}

// All live threads at one barrier: release them. Anything else is a violation.
bool release_barrier(BlockRun& run) {
  LaneImpl* first = nullptr;
  for (int i = 0; i < run.n; ++i)
    if (run.lanes[i].st == St::Barrier) {
      first = &run.lanes[i];
      break;
    }
  if (!first) return false;
  int count = 0;
  bool all = true;
  for (int i = 0; i < run.n; ++i) {
    LaneImpl* l = &run.lanes[i];
    if (l->st == St::Done) {
      violation(l, "exited while thread " + dims(first->tid) + " waits at " +
                       barrier_kind_name(first->bkind) + " (" + site(first->file, first->line) + ")");
      return false;
    }
    if (l->st == St::Warp) {
      violation(l, std::string("waits in ") + warp_kind_name(l->wkind) + " at " +
                       site(l->file, l->line) + " while thread " + dims(first->tid) + " waits at " +
                       barrier_kind_name(first->bkind) + " (" + site(first->file, first->line) +
                       "): deadlock");
      return false;
    }
    if (l->line != first->line || std::strcmp(l->file, first->file) != 0 || l->bkind != first->bkind) {
      violation(l, std::string("reached ") + barrier_kind_name(l->bkind) + " at " +
                       site(l->file, l->line) + " while thread " + dims(first->tid) +
                       " is at " + barrier_kind_name(first->bkind) + " at " +
                       site(first->file, first->line) + ": threads of a block at different barriers");
      return false;
    }
    count += l->pred;
    all = all && l->pred;
  }
  int result = 0;
  switch (first->bkind) {
    case BarrierKind::Plain: result = 0; break;
    case BarrierKind::Count: result = count; break;
    case BarrierKind::And: result = all ? 1 : 0; break;
    case BarrierKind::Or: result = count > 0; break;
  }
  for (int i = 0; i < run.n; ++i) {
    run.lanes[i].bresult = result;
    run.lanes[i].st = St::Ready;
  }
  return true;
}

void deadlock(BlockRun& run) {
  for (int i = 0; i < run.n; ++i) {
    LaneImpl* l = &run.lanes[i];
    if (l->st != St::Warp) continue;
    for (int b = 0; b < 32; ++b) {
      if (!((l->mask >> b) & 1u)) continue;
      LaneImpl* m = &run.lanes[l->warp * 32 + b];
      if (m->st == St::Barrier) {
        violation(l, std::string("waits in ") + warp_kind_name(l->wkind) + " at " +
                         site(l->file, l->line) + " for lane " + std::to_string(b) +
                         ", which waits at " + barrier_kind_name(m->bkind) + " (" +
                         site(m->file, m->line) + "): deadlock");
        return;
      }
    }
  }
  violation(nullptr, "threads wait forever (deadlock)");
}

void run_block(BlockRun& run, std::mt19937_64& rng) {
  const Grid& g = *run.grid;
  // Fresh shared memory for every block: NaN-filled, only the declared bytes addressable.
  run.statics.clear();
  run.static_end = (g.dynamic_smem + kRedzone + 255) / 256 * 256;
  run.static_bytes = 0;
  fill_poison(run.arena, g.dynamic_smem);
#if CUDA_EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(run.arena, g.dynamic_smem);
#endif
  start_fibers(run);
  std::vector<int> order(run.n);
  for (int i = 0; i < run.n; ++i) order[i] = i;
  for (;;) {
    if (options().permuted) std::shuffle(order.begin(), order.end(), rng);
    for (int i : order) {
      LaneImpl* l = &run.lanes[i];
      if (l->st == St::Ready) resume_lane(l);
      if (run.failed) break;
    }
    if (run.failed) break;
    if (release_warps(run)) continue;
    if (run.failed) break;
    bool any_waiting = false, all_done = true;
    for (int i = 0; i < run.n; ++i) {
      any_waiting |= run.lanes[i].st == St::Warp;
      all_done &= run.lanes[i].st == St::Done;
    }
    if (all_done) break;
    if (!any_waiting && release_barrier(run)) continue;
    if (run.failed) break;
    deadlock(run);
    break;
  }
  if (run.failed) {
    for (int i = 0; i < run.n; ++i)
      if (run.lanes[i].fib) graveyard().push_back(std::move(run.lanes[i].fib));
  }
#if CUDA_EMU_ASAN
  ASAN_POISON_MEMORY_REGION(run.arena, run.static_end > g.dynamic_smem ? run.static_end : g.dynamic_smem);
  for (const SharedAlloc& a : run.statics) ASAN_POISON_MEMORY_REGION(run.arena + a.offset, a.bytes);
#endif
}

// Bijective, seeded permutation of [0, n): i -> (a*i + b) mod n with gcd(a, n) = 1.
struct BlockOrder {
  uint64_t n, a = 1, b = 0;
  BlockOrder(uint64_t count, std::mt19937_64& rng, bool permuted) : n(count) {
    if (!permuted || n < 2) return;
    b = rng() % n;
    for (;;) {
      a = rng() % n;
      if (a == 0) continue;
      uint64_t x = a, y = n;
      while (y) {
        const uint64_t t = x % y;
        x = y;
        y = t;
      }
      if (x == 1) break;
    }
  }
  uint64_t operator()(uint64_t i) const {
    return uint64_t((static_cast<unsigned __int128>(a) * i + b) % n);
  }
};

}  // namespace

void run_grid(const Grid& g) {
  BlockRun run;
  run.grid = &g;
  run.n = int(g.block.x * g.block.y * g.block.z);
  run.lanes = std::make_unique<LaneImpl[]>(size_t(run.n));
  run.arena = arena();
  run.arena_cap = kArenaBytes;
  for (int i = 0; i < run.n; ++i) {
    LaneImpl& l = run.lanes[i];
    l.linear = i;
    l.warp = i / 32;
    l.lane = i % 32;
    l.tid = uint3{unsigned(i) % g.block.x, (unsigned(i) / g.block.x) % g.block.y,
                  unsigned(i) / (g.block.x * g.block.y)};
#if CUDA_EMU_TSAN
    l.tsan_fiber = __tsan_create_fiber(0);
#endif
  }
#if CUDA_EMU_TSAN
  run.tsan_main = __tsan_get_current_fiber();
#endif
#if CUDA_EMU_ASAN
  ASAN_POISON_MEMORY_REGION(run.arena, run.arena_cap);
#endif
  BlockRun* const outer = g_run;
  g_run = &run;
  g_block_dim = g.block;
  g_grid_dim = g.grid;
  std::mt19937_64 rng(options().seed * 0x9E3779B97F4A7C15ull + g.launch_index);
  const uint64_t nblocks = uint64_t(g.grid.x) * g.grid.y * g.grid.z;
  const BlockOrder order(nblocks, rng, options().permuted);
  for (uint64_t k = 0; k < nblocks && !run.failed; ++k) {
    const uint64_t b = order(k);
    run.bidx = uint3{unsigned(b % g.grid.x), unsigned((b / g.grid.x) % g.grid.y),
                     unsigned(b / (uint64_t(g.grid.x) * g.grid.y))};
    g_block_idx = run.bidx;
    run_block(run, rng);
  }
#if CUDA_EMU_TSAN
  for (int i = 0; i < run.n; ++i) __tsan_destroy_fiber(run.lanes[i].tsan_fiber);
#endif
  g_run = outer;
}

std::string current_position() {
  if (!g_run) return "";
  return where(self());
}

// ---- called from kernel code --------------------------------------------------------------

int block_barrier(BarrierKind kind, int predicate, const char* file, int line) {
  LaneImpl* l = self();
  if (!l) trap("__syncthreads outside a kernel", file, line);
  l->st = St::Barrier;
  l->bkind = kind;
  l->pred = predicate;
  l->file = file;
  l->line = line;
  yield_lane(l);
  return l->bresult;
}

uint64_t warp_op(WarpKind kind, unsigned mask, uint64_t value, int arg, int width,
                 const char* file, int line) {
  LaneImpl* l = self();
  if (!l) trap("warp intrinsic outside a kernel", file, line);
  l->st = St::Warp;
  l->wkind = kind;
  l->mask = mask;
  l->value = value;
  l->arg = arg;
  l->width = width;
  l->file = file;
  l->line = line;
  yield_lane(l);
  return l->wresult;
}

unsigned active_mask() {
  LaneImpl* l = self();
  if (!l) return 0;
  unsigned m = 0;
  const int base = l->warp * 32;
  for (int b = 0; b < 32 && base + b < g_run->n; ++b)
    if (g_run->lanes[base + b].st != St::Done) m |= 1u << b;
  return m;
}

void* static_shared(const void* key, size_t bytes, size_t align, const char* name) {
  LaneImpl* l = self();
  if (!l) trap("__shared__ variable used outside a kernel", "", 0);
  BlockRun& run = *g_run;
  for (const SharedAlloc& a : run.statics)
    if (a.key == key) return run.arena + a.offset;
  if (align < 16) align = 16;
  const size_t off = (run.static_end + align - 1) / align * align;
  run.static_bytes += bytes;
  if (run.static_bytes + run.grid->dynamic_smem > run.grid->smem_limit || off + bytes > run.arena_cap) {
    violation(l, "__shared__ " + std::string(name) + " (" + std::to_string(bytes) +
                     " bytes) brings the block's shared memory to " +
                     std::to_string(run.static_bytes) + " static + " +
                     std::to_string(run.grid->dynamic_smem) + " dynamic bytes, over the limit of " +
                     std::to_string(run.grid->smem_limit));
    abort_lane(l);
  }
  fill_poison(run.arena + off, bytes);
#if CUDA_EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(run.arena + off, bytes);
#endif
  run.statics.push_back({key, off, bytes, name});
  run.static_end = off + bytes + kRedzone;
  return run.arena + off;
}

void* dynamic_shared() {
  // The same address in every block: file-scope `extern __shared__` arrays bind to it once.
  return arena();
}

void trap(const char* what, const char* file, int line) {
  LaneImpl* l = self();
  if (!l || !g_run) {
    std::fprintf(stderr, "cuda-emu: %s at %s:%d\n", what, file, line);
    std::abort();
  }
  violation(l, std::string(what) + " at " + site(file, line));
  abort_lane(l);
}

}  // namespace cuda_emu::detail
