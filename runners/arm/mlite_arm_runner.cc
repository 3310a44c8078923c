// mlite-arm-runner: Paddle Lite's benchmark_bin contract on ARM, against the Paddle Lite light API.
//
// Flags (benchmark_bin's): --optimized_model_file --input_shape=1,3,224,224 --backend=arm --threads
// --warmup --repeats --power_mode --cpu_precision. Output: benchmark_bin's "Perf Info" block, plus
// a "raw" line (every timed run, ms) and a "Memory Usage(unit: MB)" block (peak RSS).
// Additions: --input_file (raw float32), --output_file (raw float32), --batch N (N inputs in one
// file, each run once, N outputs written in order: accuracy on the device runtime).
// Before loading, the .nb header's opt version is compared with this runtime's version: a model
// written by another opt is refused with one line (Paddle Lite itself only warns, then crashes).
//
// Statically linked, it runs on Android arm64 phones, ARM Linux boards and under qemu-user.
//
// Built with -DMLITE_ARM_FP16 against the armv8.2-a+fp16 runtime (../shared/arm-fp16) it is
// mlite-arm-runner-fp16: --cpu_precision=fp16 asks Paddle Lite for its FP16 kernels on an FP32 .nb
// (MobileConfig::set_precision_mode(LITE_PRECISION_LOW)), and a baked FP16 .nb (opt --enable_fp16)
// runs in FP16. Paddle Lite falls back to FP32 without a word when it does not believe the CPU has
// FP16 or an op lacks an FP16 kernel, so the runner reports the precision that really ran: "fp16"
// only when Paddle Lite logged its switch to low precision or the model holds FP16 calib ops.
// It refuses to start on a CPU without FP16 arithmetic (HWCAP fphp/asimdhp) instead of dying by SIGILL.
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "paddle_api.h"

#ifndef MLITE_LITE_VERSION
#error "build with -DMLITE_LITE_VERSION=\"vX.Y\" (the Paddle Lite tag of the runtime linked in)"
#endif
#ifndef MLITE_RUNNER_VERSION
#define MLITE_RUNNER_VERSION "dev"
#endif

using paddle::lite_api::MobileConfig;
using paddle::lite_api::PaddlePredictor;
using paddle::lite_api::PowerMode;

#ifdef MLITE_ARM_FP16
#define MLITE_RUNNER_NAME "mlite-arm-runner-fp16"
#define MLITE_ARCH "armv8.2-a+fp16"
#else
#define MLITE_RUNNER_NAME "mlite-arm-runner"
#define MLITE_ARCH "armv8-a"
#endif

namespace {

const char* kUsage =
    "usage: " MLITE_RUNNER_NAME " --optimized_model_file=MODEL.nb [options]\n"
    "  --input_shape=1,3,224,224   input tensor shape (NCHW)\n"
    "  --backend=arm               only arm (the CPU kernels of this runtime)\n"
    "  --threads=1                 CPU threads\n"
    "  --warmup=10                 untimed runs first\n"
    "  --repeats=30                timed runs\n"
    "  --power_mode=0              0 big cores, 1 little cores, 2 all, 3 no binding\n"
#ifdef MLITE_ARM_FP16
    "  --cpu_precision=fp32        fp32, or fp16 (Paddle Lite's FP16 kernels; reported as what really ran)\n"
#else
    "  --cpu_precision=fp32        fp32 (this armv8-a runtime has no fp16 kernels: mlite-arm-runner-fp16 has)\n"
#endif
    "  --input_file=F              raw float32 input (default: fixed pseudo-random values)\n"
    "  --output_file=F             write the output tensor(s) as raw float32\n"
    "  --batch=N                   F holds N inputs: run each once, write N outputs in order\n"
    "                              (with --warmup=0 the first input's run is also the \"first\" time)\n"
    "  --version                   print the runner and Paddle Lite versions\n"
    "Output: benchmark_bin's 'Perf Info' block (ms), a 'raw' line, a 'Memory Usage(unit: MB)' block.\n";

int Fail(const std::string& msg, int code = 2) {
  std::cerr << MLITE_RUNNER_NAME ": error: " << msg << std::endl;
  return code;
}

double NowMs() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// VmRSS / VmHWM of this process in MB (Linux and Android), -1 when unreadable.
double StatusMb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  size_t n = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, n, key) == 0 && line.size() > n && line[n] == ':') {
      return std::atof(line.c_str() + n + 1) / 1024.0;
    }
  }
  return -1;
}

// The CPU as /proc/cpuinfo describes it; under qemu-user it is the host's (x86) description.
std::string CpuInfo(bool* arm_cpuinfo) {
  std::ifstream f("/proc/cpuinfo");
  std::string line, model, hardware, part;
  int cores = 0;
  *arm_cpuinfo = false;
  while (std::getline(f, line)) {
    auto value = [&line]() {
      size_t p = line.find(':');
      std::string v = p == std::string::npos ? "" : line.substr(p + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    };
    auto starts = [&line](const char* key) { return line.compare(0, std::strlen(key), key) == 0; };
    if (starts("processor")) cores++;
    if (starts("model name") && model.empty()) model = value();
    if (starts("Hardware") && hardware.empty()) hardware = value();
    if (starts("CPU part") && part.empty()) part = value();
    if (starts("CPU implementer") || starts("CPU part")) *arm_cpuinfo = true;
  }
  std::ostringstream out;
  out << (model.empty() ? (hardware.empty() ? "unknown" : hardware) : model);
  if (!part.empty()) out << " (CPU part " << part << ")";
  out << ", " << cores << " cores";
  return out.str();
}

// AT_HWCAP bits of arm64 Linux.
const unsigned long kHwcapFphp = 1UL << 9, kHwcapAsimdhp = 1UL << 10, kHwcapCpuid = 1UL << 11;

// MIDR_EL1 (the kernel emulates the read for EL0 when HWCAP_CPUID is set), or 0 when not readable.
unsigned long Midr() {
#if defined(__aarch64__)
  if (getauxval(AT_HWCAP) & kHwcapCpuid) {
    unsigned long m;
    __asm__ volatile("mrs %0, MIDR_EL1" : "=r"(m));
    return m;
  }
#endif
  return 0;
}

// QEMU's "max" CPU: implementer 0 (software), part 0x051 ('Q').
bool QemuMidr(unsigned long midr) { return midr != 0 && ((midr >> 24) & 0xff) == 0 && ((midr >> 4) & 0xfff) == 0x51; }

bool CpuHasFp16() {
  unsigned long hw = getauxval(AT_HWCAP);
  return (hw & kHwcapFphp) && (hw & kHwcapAsimdhp);
}

// The .nb holds FP16 calib ops: opt --enable_fp16 baked FP16 kernels into it.
bool BakedFp16(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return data.find("calib") != std::string::npos && data.find("fp16") != std::string::npos;
}

// Paddle Lite logs to stderr; while loading, stderr goes to a temporary file so the runner can read
// whether Paddle Lite switched to low precision. Everything captured is written back to stderr.
struct StderrCapture {
  int saved = -1;
  FILE* file = nullptr;
  void Start() {
    std::fflush(stderr);
    file = std::tmpfile();
    if (!file) return;
    saved = dup(2);
    if (saved < 0 || dup2(fileno(file), 2) < 0) {
      if (saved >= 0) close(saved);
      saved = -1;
    }
  }
  std::string Stop() {
    std::string text;
    if (saved < 0) return text;
    std::fflush(stderr);
    std::cerr.flush();
    dup2(saved, 2);
    close(saved);
    saved = -1;
    std::rewind(file);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), file)) > 0) text.append(buf, n);
    std::fclose(file);
    std::fwrite(text.data(), 1, text.size(), stderr);
    return text;
  }
};

struct Args {
  std::map<std::string, std::string> kv;
  std::string Get(const std::string& k, const std::string& def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
};

bool ParseInt(const std::string& s, long* out) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') return false;
  *out = v;
  return true;
}

// The version string opt wrote into the .nb header: u16 meta version, then 16 bytes (NUL-padded).
bool NbVersion(const std::string& path, std::string* version, std::string* err) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *err = "cannot open model file '" + path + "'";
    return false;
  }
  char head[18];
  if (!f.read(head, sizeof(head))) {
    *err = "'" + path + "' is too short to be a Paddle Lite .nb model";
    return false;
  }
  std::string v(head + 2, 16);
  v = v.substr(0, v.find('\0'));
  if (v.empty() || v[0] != 'v') {
    *err = "'" + path + "' is not a Paddle Lite naive-buffer (.nb) model (no opt version in its header)";
    return false;
  }
  *version = v;
  return true;
}

bool ReadFloats(const std::string& path, std::vector<float>* data, std::string* err) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) {
    *err = "cannot open --input_file '" + path + "'";
    return false;
  }
  std::streamsize bytes = f.tellg();
  if (bytes <= 0 || bytes % 4 != 0) {
    *err = "--input_file '" + path + "' has " + std::to_string(bytes) + " bytes: not raw float32";
    return false;
  }
  data->resize(bytes / 4);
  f.seekg(0);
  f.read(reinterpret_cast<char*>(data->data()), bytes);
  return static_cast<bool>(f);
}

bool WriteFloats(const std::string& path, const std::vector<float>& data, std::string* err) {
  std::string tmp = path + ".partial";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * 4));
    if (!f) {
      *err = "cannot write --output_file '" + path + "' (disk full or read-only?)";
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    *err = "cannot rename the output into '" + path + "'";
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

std::string Join(const std::vector<int64_t>& v, const char* sep) {
  std::ostringstream out;
  for (size_t i = 0; i < v.size(); i++) out << (i ? sep : "") << v[i];
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--version") {
      std::cout << MLITE_RUNNER_NAME " " << MLITE_RUNNER_VERSION << "\nPaddle Lite version: " << MLITE_LITE_VERSION
                << "\nArchitecture: " MLITE_ARCH "\nFP16 kernels: "
#ifdef MLITE_ARM_FP16
                << "yes"
#else
                << "no"
#endif
                << "\nCPU FP16 arithmetic: " << (CpuHasFp16() ? "yes" : "no") << "\n";
      return 0;
    }
    if (a.compare(0, 2, "--") != 0) return Fail("unexpected argument '" + a + "' (see --help)");
    size_t eq = a.find('=');
    if (eq != std::string::npos) {
      args.kv[a.substr(2, eq - 2)] = a.substr(eq + 1);
    } else if (i + 1 < argc) {
      args.kv[a.substr(2)] = argv[++i];
    } else {
      return Fail("flag " + a + " needs a value (see --help)");
    }
  }
  static const char* known[] = {"optimized_model_file", "input_shape", "backend", "threads", "warmup", "repeats",
                                "power_mode", "cpu_precision", "input_file", "output_file", "batch",
                                "enable_memory_profile"};
  for (const auto& kv : args.kv) {
    if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return kv.first == k; }) ==
        std::end(known))
      return Fail("unknown flag --" + kv.first + " (see --help)");
  }
  const std::string model = args.Get("optimized_model_file", "");
  if (model.empty()) return Fail("--optimized_model_file is required (see --help)");
  if (args.Get("backend", "arm") != "arm") return Fail("--backend " + args.Get("backend", "") + ": only arm");
  const std::string requested = args.Get("cpu_precision", "fp32");
#ifdef MLITE_ARM_FP16
  if (requested != "fp32" && requested != "fp16")
    return Fail("--cpu_precision " + requested + ": fp32 or fp16");
  // every FP16 instruction is SIGILL on an armv8.0 core (Cortex-A53/A72): refuse before any runs
  if (!CpuHasFp16())
    return Fail("this CPU has no ARMv8.2 FP16 arithmetic (no fphp/asimdhp in AT_HWCAP): " MLITE_RUNNER_NAME
                " cannot run here; use mlite-arm-runner (armv8-a) with an FP32 or INT8 .nb", 5);
#else
  if (requested != "fp32")
    return Fail("--cpu_precision " + requested + ": this armv8-a runtime has fp32 (and int8) kernels only; "
                "mlite-arm-runner-fp16 has Paddle Lite's FP16 kernels (armv8.2 CPUs)");
#endif
  long threads, warmup, repeats, power, batch;
  if (!ParseInt(args.Get("threads", "1"), &threads) || threads < 1 || threads > 64)
    return Fail("--threads must be an integer in 1..64");
  if (!ParseInt(args.Get("warmup", "10"), &warmup) || warmup < 0) return Fail("--warmup must be an integer >= 0");
  if (!ParseInt(args.Get("repeats", "30"), &repeats) || repeats < 1) return Fail("--repeats must be an integer >= 1");
  if (!ParseInt(args.Get("power_mode", "0"), &power) || power < 0 || power > 5)
    return Fail("--power_mode must be 0..5 (0 big cores, 1 little, 2 all, 3 no binding)");
  if (!ParseInt(args.Get("batch", "0"), &batch) || batch < 0) return Fail("--batch must be an integer >= 1");
  std::vector<int64_t> shape;
  {
    std::stringstream ss(args.Get("input_shape", "1,3,224,224"));
    std::string item;
    long d;
    while (std::getline(ss, item, ',')) {
      if (!ParseInt(item, &d) || d < 1) return Fail("--input_shape must be positive integers, e.g. 1,3,224,224");
      shape.push_back(d);
    }
    if (shape.empty()) return Fail("--input_shape is empty");
  }
  int64_t per_input = 1;
  for (auto d : shape) per_input *= d;
  const std::string input_file = args.Get("input_file", ""), output_file = args.Get("output_file", "");
  if (batch > 0 && input_file.empty()) return Fail("--batch needs --input_file holding the N inputs");

  std::string nb_version, err;
  if (!NbVersion(model, &nb_version, &err)) return Fail(err);
  if (nb_version != MLITE_LITE_VERSION)
    return Fail(model + " was written by Paddle Lite opt " + nb_version + " but this runtime is " +
                    MLITE_LITE_VERSION + ": re-export it with the matching opt (pip paddlelite for " +
                    MLITE_LITE_VERSION + ") or build the runtime at tag " + nb_version,
                3);

  std::vector<float> inputs;
  long n_inputs = 1;
  if (!input_file.empty()) {
    if (!ReadFloats(input_file, &inputs, &err)) return Fail(err);
    long have = static_cast<long>(inputs.size() / per_input);
    if (static_cast<int64_t>(inputs.size()) % per_input != 0 || have < 1)
      return Fail("--input_file holds " + std::to_string(inputs.size()) + " floats, not a multiple of the input "
                  "shape's " + std::to_string(per_input));
    n_inputs = batch > 0 ? batch : 1;
    if (have != n_inputs)
      return Fail("--input_file holds " + std::to_string(have) + " input(s) of shape " + Join(shape, ",") +
                  ", expected " + std::to_string(n_inputs) + (batch > 0 ? " (--batch)" : " (pass --batch N)"));
  } else {
    inputs.resize(per_input);
    uint32_t s = 12345u;  // fixed LCG: the same pseudo-random input on every device
    for (auto& v : inputs) {
      s = s * 1664525u + 1013904223u;
      v = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;
    }
  }

  MobileConfig config;
  config.set_model_from_file(model);
  config.set_threads(static_cast<int>(threads));
  config.set_power_mode(static_cast<PowerMode>(power));
#ifdef MLITE_ARM_FP16
  if (requested == "fp16") config.set_precision_mode(paddle::lite_api::LITE_PRECISION_LOW);
#endif
  double t0 = NowMs();
  std::shared_ptr<PaddlePredictor> predictor;
  StderrCapture capture;
  capture.Start();
  try {
    predictor = paddle::lite_api::CreatePaddlePredictor<MobileConfig>(config);
  } catch (const std::exception& e) {
    capture.Stop();
#ifndef MLITE_ARM_FP16
    // Paddle Lite's own words: "kernel for 'calib' is not supported"
    if (BakedFp16(model))
      return Fail(model + " is a baked FP16 .nb (opt --enable_fp16) and this armv8-a runtime has no FP16 kernels: "
                  "run it with mlite-arm-runner-fp16 on an armv8.2 CPU", 4);
#endif
    return Fail(std::string("Paddle Lite could not load ") + model + ": " + e.what(), 4);
  }
  const std::string load_log = capture.Stop();
  if (!predictor) return Fail("Paddle Lite could not load " + model, 4);
  double init_ms = NowMs() - t0;
  // read after the timed load: read before it, the model would be in the page cache and no load cold
  const bool baked_fp16 = BakedFp16(model);
  const bool switched = load_log.find("Inference with low precision") != std::string::npos;
  // what really runs: FP16 kernels for a baked FP16 .nb (this runtime) or when Paddle Lite said it switched
  std::string ran = "fp32", evidence = "FP32 kernels";
  if (baked_fp16) {
    ran = "fp16";
    evidence = "baked FP16 .nb (opt --enable_fp16: FP16 kernels and calib ops in the model)";
  } else if (requested == "fp16") {
    if (switched) {
      ran = "fp16";
      evidence = "runtime switch: Paddle Lite logged 'Inference with low precision!'";
    } else {
      evidence = "fp16 requested, Paddle Lite ran FP32 kernels (it did not switch: CPU not known to have FP16 in "
                 "/proc/cpuinfo, or an op without an FP16 kernel)";
    }
  }
  double rss_init = StatusMb("VmRSS");
  if (predictor->GetVersion() != MLITE_LITE_VERSION)
    return Fail("runtime reports version " + predictor->GetVersion() + ", runner was built for " +
                    MLITE_LITE_VERSION + ": rebuild it with 'make arm-runner'", 4);

  auto input = predictor->GetInput(0);
  input->Resize(shape);
  std::vector<float> outputs;
  std::vector<int64_t> out_shape;
  auto run_one = [&](long i, bool keep) {
    std::memcpy(input->mutable_data<float>(), inputs.data() + i * per_input, per_input * sizeof(float));
    predictor->Run();
    if (keep) {
      auto out = predictor->GetOutput(0);
      out_shape = out->shape();
      int64_t n = 1;
      for (auto d : out_shape) n *= d;
      const float* p = out->data<float>();
      outputs.insert(outputs.end(), p, p + n);
    }
  };
  std::vector<double> times;
  double first_ms = 0;
  // --batch without warmup is inference (parity, accuracy): no untimed run, input 0's run is the "first"
  bool first_is_input0 = batch > 0 && warmup == 0;
  try {
    if (!first_is_input0) {
      t0 = NowMs();
      run_one(0, false);
      first_ms = NowMs() - t0;
    }
    for (long i = 0; i < warmup; i++) run_one(0, false);
    long timed = batch > 0 ? n_inputs : repeats;
    for (long i = 0; i < timed; i++) {
      bool keep = batch > 0 || (i == timed - 1 && !output_file.empty());
      t0 = NowMs();
      run_one(batch > 0 ? i : 0, keep);
      times.push_back(NowMs() - t0);
    }
    if (first_is_input0) first_ms = times[0];
  } catch (const std::exception& e) {
    return Fail(std::string("Paddle Lite failed while running ") + model + ": " + e.what(), 4);
  }
  if (!output_file.empty() && !WriteFloats(output_file, outputs, &err)) return Fail(err);

  bool arm_cpuinfo;
  std::string cpu = CpuInfo(&arm_cpuinfo);
  const bool qemu = QemuMidr(Midr());
  struct utsname un;
  uname(&un);
  double sum = 0;
  for (double t : times) sum += t;
  std::printf("======= Device Info =======\n");
  std::printf("Runner: " MLITE_RUNNER_NAME " %s (Paddle Lite %s, light API, " MLITE_ARCH ")\n", MLITE_RUNNER_VERSION,
              MLITE_LITE_VERSION);
  std::printf("Paddle Lite version: %s\n", MLITE_LITE_VERSION);
  std::printf("Model version: %s\n", nb_version.c_str());
  std::printf("Machine: %s %s\n", un.sysname, un.machine);
  std::printf("CPU: %s\n", cpu.c_str());
  std::printf("CPU FP16 arithmetic: %s\n", CpuHasFp16() ? "yes" : "no");
  // qemu-user runs this aarch64 binary with the host's /proc/cpuinfo (no ARM CPU fields there), and its
  // CPU answers MIDR_EL1 with QEMU's own implementer/part even when another cpuinfo is bound over the file.
  std::printf("Emulated: %s\n", qemu ? "yes (aarch64 code, MIDR_EL1 is QEMU's 'max' CPU)"
                                   : arm_cpuinfo ? "no" : "yes (aarch64 code, /proc/cpuinfo describes a non-ARM CPU)");
  std::printf("======= Model Info =======\n");
  std::printf("optimized_model_file: %s\ninput_shape: %s\nbackend: arm\nthreads: %ld\n", model.c_str(),
              Join(shape, ",").c_str(), threads);
  std::printf("power_mode: %ld\nwarmup: %ld\nrepeats: %ld\ncpu_precision: %s\n", power, warmup,
              static_cast<long>(times.size()), ran.c_str());
  std::printf("cpu_precision_requested: %s\nprecision_evidence: %s\n", requested.c_str(), evidence.c_str());
  if (batch > 0) std::printf("batch: %ld inputs, each run once\n", n_inputs);
  if (!output_file.empty())
    std::printf("output_file: %s (%zu float32, shape %s per input)\n", output_file.c_str(), outputs.size(),
                Join(out_shape, ",").c_str());
  std::printf("======= Perf Info =======\n");
  std::printf("Time(unit: ms):\n");
  std::printf("init  = %.3f\nfirst = %.3f\nmin   = %.3f\nmax   = %.3f\navg   = %.3f\n", init_ms, first_ms,
              *std::min_element(times.begin(), times.end()), *std::max_element(times.begin(), times.end()),
              sum / times.size());
  std::printf("raw   = ");
  for (size_t i = 0; i < times.size(); i++) std::printf(i ? ",%.3f" : "%.3f", times[i]);
  std::printf("\nMemory Usage(unit: MB):\n");
  std::printf("init  = %.3f\npeak  = %.3f\n", rss_init, StatusMb("VmHWM"));
  return 0;
}
