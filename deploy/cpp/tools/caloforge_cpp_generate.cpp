// caloforge-cpp-generate: showers from an exported generator (.pt2), without Python.
//
//   caloforge-cpp-generate --model m.pt2 (--energies E1,E2,... [--n N] | --energies-npy e.npy)
//       [--config C | --configs-npy c.npy] [--noise noise.npy | --seed S [--noise-out z.npy]]
//       [--threads T] [--batch B] (--out cells.npy | --time SECONDS) [--info]
//
// Energies in MeV; --n repeats each listed energy N times. --noise: float32 (N, noise_dim)
// standard normals (the same noise gives the same showers as Python); otherwise noise comes
// from the generator's own RNG seeded with --seed (--noise-out saves what it drew, float32
// (N, noise_dim)). --out writes float32 (N, n_cells) MeV.
// --time SECONDS: timing mode, one JSON line on stdout with showers per second at batch B (the
// median of up to 50 calls within SECONDS) for the forward pass on prepared inputs and for
// Generate (noise + encoding + forward), the load time and the process's peak resident memory.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "caloforge/npy.h"
#include "caloforge/shower_generator.h"

namespace {

using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: caloforge-cpp-generate --model m.pt2 (--energies E1,E2,.. [--n N] | --energies-npy "
    "e.npy)\n"
    "       [--config C | --configs-npy c.npy] [--noise noise.npy | --seed S [--noise-out z.npy]]\n"
    "       [--threads T]"
    " [--batch B] (--out cells.npy | --time SECONDS) [--info]\n";

std::map<std::string, std::string> ParseArgs(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string key = argv[i];
    if (key == "--help" || key == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (key == "--info") {
      args["info"] = "1";
      continue;
    }
    if (key.rfind("--", 0) != 0 || i + 1 >= argc) {
      throw std::invalid_argument("unexpected argument '" + key + "'\n" + kUsage);
    }
    args[key.substr(2)] = argv[++i];
  }
  return args;
}

long ToLong(const std::map<std::string, std::string>& args, const std::string& key, long fallback,
            long minimum) {
  auto it = args.find(key);
  if (it == args.end()) return fallback;
  size_t used = 0;
  const long v = std::stol(it->second, &used);
  if (used != it->second.size() || v < minimum) {
    throw std::invalid_argument("--" + key + " must be an integer >= " + std::to_string(minimum) +
                                ", got '" + it->second + "'");
  }
  return v;
}

std::vector<double> Energies(const std::map<std::string, std::string>& args) {
  const bool listed = args.count("energies") > 0, from_file = args.count("energies-npy") > 0;
  if (listed == from_file) {
    throw std::invalid_argument("give exactly one of --energies (MeV list) or --energies-npy");
  }
  if (from_file) return caloforge::ReadNpy(args.at("energies-npy")).AsFloat64();
  const long n = ToLong(args, "n", 1, 1);
  std::vector<double> out;
  std::stringstream list(args.at("energies"));
  std::string item;
  while (std::getline(list, item, ',')) {
    const double e = std::stod(item);
    out.insert(out.end(), static_cast<size_t>(n), e);
  }
  return out;
}

std::vector<int> Configs(const std::map<std::string, std::string>& args, size_t n) {
  if (args.count("configs-npy")) {
    if (args.count("config")) throw std::invalid_argument("give --config or --configs-npy, not both");
    std::vector<int64_t> c = caloforge::ReadNpy(args.at("configs-npy")).AsInt64();
    if (c.size() != n) {
      throw std::invalid_argument(args.at("configs-npy") + ": " + std::to_string(c.size()) +
                                  " configs for " + std::to_string(n) + " energies");
    }
    return std::vector<int>(c.begin(), c.end());
  }
  return std::vector<int>(n, static_cast<int>(ToLong(args, "config", 0, 0)));
}

template <typename T>
std::vector<T> Rows(const std::vector<T>& v, size_t start, size_t stop, size_t width) {
  return std::vector<T>(v.begin() + start * width, v.begin() + stop * width);
}

// Peak resident memory of this process in KiB: VmHWM of /proc/self/status (getrusage's
// ru_maxrss would carry over the peak of a parent that forked this process before exec).
long PeakRssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // KiB on Linux
}

// Seconds per call of `f`: the median of at least 3 and at most 50 calls after one warm-up,
// stopping once `budget_s` has been spent (the procedure of caloforge.bench.timing.time_call).
struct CallTiming {
  double median_s;
  double best_s;
  size_t repeats;
};

template <typename F>
CallTiming TimeCalls(F&& f, double budget_s) {
  f();  // warm-up
  std::vector<double> times;
  double spent = 0.0;
  while (times.size() < 3 || (times.size() < 50 && spent < budget_s)) {
    const auto start = Clock::now();
    f();
    const double dt = std::chrono::duration<double>(Clock::now() - start).count();
    times.push_back(dt);
    spent += dt;
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const size_t k = sorted.size();
  const double median = k % 2 ? sorted[k / 2] : 0.5 * (sorted[k / 2 - 1] + sorted[k / 2]);
  return {median, sorted.front(), k};
}

int Main(int argc, char** argv) {
  const auto args = ParseArgs(argc, argv);
  if (!args.count("model")) throw std::invalid_argument(std::string("--model is required\n") + kUsage);
  const long threads = ToLong(args, "threads", 1, 1);
  const auto batch = static_cast<size_t>(ToLong(args, "batch", 10000, 1));
  caloforge::SetIntraOpThreads(static_cast<int>(threads));

  const auto load_start = Clock::now();
  caloforge::ShowerGenerator generator(args.at("model"),
                                       static_cast<uint64_t>(ToLong(args, "seed", 0, 0)));
  const double load_s = std::chrono::duration<double>(Clock::now() - load_start).count();
  const caloforge::GeneratorInfo& info = generator.Info();
  if (args.count("info")) {
    for (const auto& [key, value] : generator.Metadata()) {
      if (key.rfind("cpp.", 0) == 0 || key == "family" || key == "geometry_name") {
        std::cout << key << " = " << value << "\n";
      }
    }
    if (!args.count("out") && !args.count("time")) return 0;
  }

  const std::vector<double> energies = Energies(args);
  const std::vector<int> configs = Configs(args, energies.size());
  const size_t n = energies.size();
  const auto noise_dim = static_cast<size_t>(info.noise_dim);
  const auto n_cells = static_cast<size_t>(info.n_cells);
  const size_t outside = static_cast<size_t>(std::count_if(
      energies.begin(), energies.end(), [&](double e) { return !generator.InTrainedRange(e); }));
  if (outside > 0) {
    std::cerr << "warning: " << outside << " of " << n << " energies outside the trained range ["
              << info.energy_min_mev << ", " << info.energy_max_mev << "] MeV\n";
  }

  if (args.count("time")) {
    const double budget = std::stod(args.at("time"));
    // a batch of B showers, energies and configs cycled from the request
    std::vector<double> e(batch);
    std::vector<int> c(batch);
    for (size_t i = 0; i < batch; ++i) {
      e[i] = energies[i % n];
      c[i] = configs[i % n];
    }
    const std::vector<float> cond = generator.EncodeConditions(e, c);
    const std::vector<float> noise = generator.DrawNoise(batch);
    const CallTiming forward = TimeCalls([&] { generator.Run(noise, cond, batch); }, budget);
    const CallTiming full = TimeCalls([&] { generator.Generate(e, c); }, budget);
    const double b = static_cast<double>(batch);
    std::printf(
        "{\"batch\": %zu, \"threads\": %ld, \"forward_median_s\": %.9g, "
        "\"forward_best_s\": %.9g, \"forward_repeats\": %zu, \"forward_showers_per_s\": %.6g, "
        "\"generate_median_s\": %.9g, \"generate_best_s\": %.9g, \"generate_repeats\": %zu, "
        "\"generate_showers_per_s\": %.6g, \"load_s\": %.6g, \"peak_rss_kib\": %ld}\n",
        batch, threads, forward.median_s, forward.best_s, forward.repeats, b / forward.median_s,
        full.median_s, full.best_s, full.repeats, b / full.median_s, load_s, PeakRssKiB());
    return 0;
  }

  if (!args.count("out")) throw std::invalid_argument(std::string("give --out or --time\n") + kUsage);
  std::vector<float> noise;
  if (args.count("noise")) {
    if (args.count("seed")) throw std::invalid_argument("give --noise or --seed, not both");
    const caloforge::NpyArray a = caloforge::ReadNpy(args.at("noise"));
    if (a.shape.size() != 2 || a.shape[0] != static_cast<int64_t>(n) ||
        a.shape[1] != info.noise_dim) {
      throw std::invalid_argument(args.at("noise") + ": noise must have shape (" +
                                  std::to_string(n) + ", " + std::to_string(noise_dim) + ")");
    }
    noise = a.AsFloat32();
  } else if (args.count("noise-out")) {
    // the run's noise, drawn up front so that it can be saved (and replayed with --noise)
    for (size_t start = 0; start < n; start += batch) {
      const std::vector<float> part = generator.DrawNoise(std::min(n, start + batch) - start);
      noise.insert(noise.end(), part.begin(), part.end());
    }
    caloforge::WriteNpyFloat32(args.at("noise-out"), noise, static_cast<int64_t>(n),
                               static_cast<int64_t>(noise_dim));
  }
  std::vector<float> cells;
  cells.reserve(n * n_cells);
  for (size_t start = 0; start < n; start += batch) {
    const size_t stop = std::min(n, start + batch);
    const std::vector<double> e(energies.begin() + start, energies.begin() + stop);
    const std::vector<int> c(configs.begin() + start, configs.begin() + stop);
    const std::vector<float> part = noise.empty()
                                        ? generator.Generate(e, c)
                                        : generator.Generate(e, c, Rows(noise, start, stop, noise_dim));
    cells.insert(cells.end(), part.begin(), part.end());
  }
  caloforge::WriteNpyFloat32(args.at("out"), cells, static_cast<int64_t>(n),
                             static_cast<int64_t>(n_cells));
  std::cerr << "wrote " << n << " showers x " << n_cells << " cells (MeV) to " << args.at("out")
            << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& exc) {
    std::cerr << "caloforge-cpp-generate: error: " << exc.what() << "\n";
    return 2;
  }
}
