// A C++ program for the programs-under-preload tests (tests/robust/cxx.sh):
// new/delete in every form through ordinary C++ code, with deterministic
// output that must be identical with and without the allocator preloaded.
//
//   containers  vector/string growth, map, unordered_map, list, deque, set,
//               shared_ptr/make_shared, std::function, sort of strings
//   aligned     over-aligned types (alignas 32 .. 8192) singly, in arrays and
//               in containers; operator new(size, align_val_t) directly
//   sized       sized delete (-fsized-deallocation), operator delete(p, n)
//   nothrow     new (std::nothrow) of impossible sizes -> nullptr
//   exceptions  bad_alloc from impossible sizes, new_handler that releases a
//               reserve, many thrown exceptions (allocated by the runtime),
//               exceptions crossing threads (std::exception_ptr)
//   threads     objects created in one thread, destroyed in another
//               (unique_ptr handed through a queue), thread_local containers
//
// usage: cxx_prog [scale]     prints one line per part and "done"
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <condition_variable>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

static int scale = 1;
static int failures = 0;

#define EXPECT(cond, what)                                     \
  do {                                                         \
    if (!(cond)) {                                             \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, what); \
      failures++;                                              \
    }                                                          \
  } while (0)

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *c = static_cast<const unsigned char *>(p);
  for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
  return h;
}
static uint64_t fnv(uint64_t h, const std::string &s) { return fnv(h, s.data(), s.size()); }
static uint64_t fnv(uint64_t h, uint64_t v) { return fnv(h, &v, sizeof v); }

static std::string word(uint64_t i) {
  std::string s;
  uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
  size_t len = 1 + (x >> 59) + (i % 97 == 0 ? 3000 : 0);
  for (size_t k = 0; k < len; k++) {
    s.push_back(static_cast<char>('a' + (x >> (k % 58)) % 26));
  }
  return s;
}

static void containers() {
  uint64_t h = 1469598103934665603ull;
  const int n = 60000 * scale;
  std::vector<std::string> v;
  for (int i = 0; i < n; i++) v.push_back(word(i));
  std::sort(v.begin(), v.end());
  for (auto &s : v) h = fnv(h, s);
  std::map<std::string, int> m;
  std::unordered_map<uint64_t, std::string> um;
  for (int i = 0; i < n; i++) {
    m[v[i]] += i;
    um.emplace(static_cast<uint64_t>(i) * 2654435761u, v[(i * 7) % n]);
  }
  for (int i = 0; i < n; i += 3) um.erase(static_cast<uint64_t>(i) * 2654435761u);
  for (auto &kv : m) h = fnv(fnv(h, kv.first), static_cast<uint64_t>(kv.second));
  uint64_t uh = 0;
  for (auto &kv : um) uh += fnv(fnv(0, kv.first), kv.second); // order-independent
  h = fnv(h, uh);
  std::list<std::vector<int>> l;
  std::deque<std::string> d;
  std::set<uint64_t> st;
  for (int i = 0; i < n / 4; i++) {
    l.emplace_back(static_cast<size_t>(i % 300), i);
    d.push_front(word(i + 7));
    if (i % 5 == 0) d.pop_back();
    st.insert(fnv(0, static_cast<uint64_t>(i)) % 100000);
  }
  for (auto &x : l) h = fnv(h, x.size());
  for (auto &s : d) h = fnv(h, s);
  for (auto x : st) h = fnv(h, x);
  std::vector<std::shared_ptr<std::string>> sp;
  std::vector<std::function<size_t()>> fns;
  for (int i = 0; i < n / 4; i++) {
    sp.push_back(std::make_shared<std::string>(word(i * 3)));
    auto cap = sp.back();
    std::string big(static_cast<size_t>(i % 64), 'q');
    fns.emplace_back([cap, big] { return cap->size() + big.size(); });
  }
  sp.clear();
  for (auto &f : fns) h = fnv(h, static_cast<uint64_t>(f()));
  std::string grow;
  for (int i = 0; i < n; i++) grow += word(i); // realloc-like growth
  h = fnv(h, grow);
  std::printf("containers: %d items, hash %016llx\n", n, static_cast<unsigned long long>(h));
}

template <size_t A> struct alignas(A) Over {
  unsigned char b[A];
};

template <size_t A> static int aligned_kind() {
  int bad = 0;
  std::vector<Over<A> *> single;
  for (int i = 0; i < 64; i++) {
    single.push_back(new Over<A>);
    bad += reinterpret_cast<uintptr_t>(single.back()) % A != 0;
    std::memset(single.back()->b, i, A);
  }
  Over<A> *arr = new Over<A>[17];
  bad += reinterpret_cast<uintptr_t>(arr) % A != 0;
  std::memset(arr, 0x5a, sizeof(Over<A>) * 17);
  std::vector<Over<A>> vec(33);
  bad += reinterpret_cast<uintptr_t>(vec.data()) % A != 0;
  for (int i = 0; i < 64; i++) {
    bad += single[i]->b[A - 1] != static_cast<unsigned char>(i);
    delete single[i];
  }
  delete[] arr;
  void *raw = ::operator new(A * 3 + 1, std::align_val_t(A));
  bad += reinterpret_cast<uintptr_t>(raw) % A != 0;
  ::operator delete(raw, A * 3 + 1, std::align_val_t(A));
  void *raw2 = ::operator new[](A + 5, std::align_val_t(A), std::nothrow);
  bad += raw2 == nullptr || reinterpret_cast<uintptr_t>(raw2) % A != 0;
  ::operator delete[](raw2, std::align_val_t(A));
  return bad;
}

static void aligned() {
  int bad = aligned_kind<32>() + aligned_kind<64>() + aligned_kind<128>() + aligned_kind<256>() +
            aligned_kind<4096>() + aligned_kind<8192>();
  EXPECT(bad == 0, "over-aligned new returned misaligned memory");
  std::printf("aligned: 6 alignments, %d misaligned\n", bad);
}

struct Sized {
  char data[200];
  virtual ~Sized() = default;
};
struct SizedDerived : Sized {
  char more[3000];
};

static void sized() {
  size_t total = 0;
  for (int i = 0; i < 20000 * scale; i++) {
    Sized *s = (i % 3) ? new Sized : new SizedDerived; // virtual dtor: sized delete of the dynamic type
    s->data[0] = static_cast<char>(i);
    total += static_cast<unsigned char>(s->data[0]);
    delete s;
    void *p = ::operator new(static_cast<size_t>(i % 5000) + 1);
    ::operator delete(p, static_cast<size_t>(i % 5000) + 1);
    char *a = new char[static_cast<size_t>(i % 700) + 1];
    delete[] a;
  }
  std::printf("sized: checksum %zu\n", total);
}

static volatile size_t v_zero;

static void nothrow_and_exceptions() {
  size_t huge = (size_t(1) << 62) + v_zero;
  char *p = new (std::nothrow) char[huge];
  EXPECT(p == nullptr, "nothrow new of 2^62 bytes did not return nullptr");
  void *q = ::operator new(huge, std::nothrow);
  EXPECT(q == nullptr, "operator new(2^62, nothrow) did not return nullptr");
  void *qa = ::operator new(huge, std::align_val_t(64), std::nothrow);
  EXPECT(qa == nullptr, "aligned nothrow new of 2^62 bytes did not return nullptr");
  int caught = 0;
  for (int i = 0; i < 3; i++) {
    try {
      std::vector<char> v(huge);
      EXPECT(false, "vector of 2^62 bytes did not throw");
    } catch (const std::bad_alloc &) {
      caught++;
    } catch (const std::length_error &) {
      caught++;
    }
    try {
      void *r = ::operator new(huge, std::align_val_t(256));
      EXPECT(false, "aligned new of 2^62 bytes did not throw");
      ::operator delete(r, std::align_val_t(256));
    } catch (const std::bad_alloc &) {
      caught++;
    }
  }
  // new_handler: the first failure releases a reserve; the retry still
  // cannot fit 2^62 bytes, so the handler uninstalls itself -> bad_alloc.
  static char *reserve = nullptr;
  static int handler_calls = 0;
  reserve = new char[1 << 20];
  std::set_new_handler([] {
    handler_calls++;
    if (reserve) {
      delete[] reserve;
      reserve = nullptr;
    } else {
      std::set_new_handler(nullptr);
    }
  });
  try {
    char *r = new char[huge];
    EXPECT(false, "new of 2^62 bytes with a handler did not throw");
    delete[] r;
  } catch (const std::bad_alloc &) {
    caught++;
  }
  std::set_new_handler(nullptr);
  // many exceptions: each one is allocated by the C++ runtime
  uint64_t h = 0;
  for (int i = 0; i < 20000 * scale; i++) {
    try {
      if (i % 2) throw std::runtime_error(word(i));
      throw std::vector<int>(static_cast<size_t>(i % 100), i);
    } catch (const std::runtime_error &e) {
      h = fnv(h, std::string(e.what()));
    } catch (const std::vector<int> &v) {
      h = fnv(h, v.size());
    }
  }
  // an exception crossing threads
  std::exception_ptr ep;
  std::thread t([&ep] {
    try {
      throw std::out_of_range(std::string(5000, 'e'));
    } catch (...) {
      ep = std::current_exception();
    }
  });
  t.join();
  size_t len = 0;
  try {
    std::rethrow_exception(ep);
  } catch (const std::out_of_range &e) {
    len = std::strlen(e.what());
  }
  ep = nullptr;
  std::printf("exceptions: %d bad_alloc, handler called %d times, hash %016llx, cross-thread %zu\n",
              caught, handler_calls, static_cast<unsigned long long>(h), len);
}

struct Node {
  std::vector<std::string> payload;
  std::unique_ptr<Node> next;
};

static void threads() {
  const int producers = 3, per = 4000 * scale;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<Node>> q;
  int done = 0;
  std::atomic<uint64_t> sum{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < producers; t++) {
    ts.emplace_back([&, t] {
      thread_local std::vector<std::string> tl; // destroyed at thread exit
      for (int i = 0; i < per; i++) {
        auto n = std::make_unique<Node>();
        for (int k = 0; k < 1 + i % 5; k++) n->payload.push_back(word(t * per + i + k));
        if (i % 7 == 0) n->next = std::make_unique<Node>();
        tl.push_back(word(i));
        std::lock_guard<std::mutex> g(mu);
        q.push_back(std::move(n));
        cv.notify_one();
      }
      std::lock_guard<std::mutex> g(mu);
      done++;
      cv.notify_all();
    });
  }
  std::thread consumer([&] {
    uint64_t local = 0;
    for (;;) {
      std::unique_lock<std::mutex> lk(mu);
      cv.wait(lk, [&] { return !q.empty() || done == producers; });
      if (q.empty()) break;
      auto n = std::move(q.front());
      q.pop_front();
      lk.unlock();
      for (auto &s : n->payload) local += s.size();
      local += n->next ? 1 : 0;
      // n is destroyed here: memory allocated by a producer thread
    }
    sum += local;
  });
  for (auto &t : ts) t.join();
  consumer.join();
  std::printf("threads: %d objects moved across threads, payload %llu\n", producers * per,
              static_cast<unsigned long long>(sum.load()));
}

int main(int argc, char **argv) {
  if (argc > 1) scale = std::max(1, std::atoi(argv[1]));
  containers();
  aligned();
  sized();
  nothrow_and_exceptions();
  threads();
  std::printf("done, %d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
