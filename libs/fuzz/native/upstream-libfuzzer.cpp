// Lets the @jazzer.js/fuzzer addon run on upstream libFuzzer (Debian's
// libclang_rt.fuzzer_no_main archive) instead of the libFuzzer fork its CMake
// build downloads (CodeIntelligenceTesting/llvm-project-jazzer). The addon
// sources use four things only the fork has; each is provided here from the
// public interface upstream libFuzzer already offers:
//
// 1. The "print the crashing input" hook. The fork calls
//    __jazzer_set_death_callback; upstream calls __sanitizer_set_death_callback
//    (compiler-rt/lib/fuzzer/FuzzerLoop.cpp, Fuzzer::Fuzzer) with
//    Fuzzer::StaticDeathCallback, which writes the current input to
//    <artifact_prefix>crash-<sha1> and prints the final stats.
// 2. Stopping the loop when the fuzz target returns -2 (a finding, already
//    reported by Jazzer.js's JavaScript side). Upstream has no such return
//    value (FuzzerLoop.cpp, Fuzzer::ExecuteCallback), so the process ends
//    here with libFuzzer's crash exit code, as Jazzer.js's CLI would.
// 3. Comparison and indirect-call hooks that take the caller's PC as an
//    argument (the JavaScript trace id). Upstream's hooks read the PC from
//    their return address (FuzzerTracePC.cpp, __sanitizer_cov_trace_const_cmp8
//    and __sanitizer_cov_trace_pc_indir use GET_CALLER_PC), and use only its
//    low 12 bits (TracePC::HandleCmp, TracePC::HandleCallerCallee). So they are
//    entered with a return address inside a block of 4096 small return stubs,
//    picked by those low 12 bits.
// 4. registerModuleCounters, added by @jazzer.js/fuzzer 4.x for ES modules:
//    each instrumented module owns a counter Buffer that becomes a libFuzzer
//    coverage module of its own (__sanitizer_cov_8bit_counters_init plus a PC
//    table of the same length, as the addon's RegisterNewCounters does).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <napi.h>

#include "fuzzer/FuzzerDefs.h"

#if !defined(__x86_64__) || !defined(__linux__)
#error "upstream-libfuzzer.cpp supports Linux x86-64 only"
#endif

extern "C" {
void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *end);
void __sanitizer_cov_pcs_init(const uintptr_t *pcs_beg,
                              const uintptr_t *pcs_end);
// Defined by the addon (shared/sanitizer_symbols.cpp).
void __jazzer_set_death_callback(void (*callback)());
}

namespace {
// libFuzzer's exit code for a crash (FuzzerFlags.def, error_exitcode), which
// Jazzer.js also uses for a finding (core.ts, FuzzingExitCode.Finding).
constexpr int kFindingExitCode = 77;
// The fuzz target's return value asking libFuzzer to stop (the addon's
// shared/libfuzzer.h, RETURN_EXIT).
constexpr int kStopFuzzing = -2;

void (*gLibFuzzerDeathCallback)() = nullptr;
bool gCrashingInputDumped = false;
fuzzer::UserCallback gTargetCallback = nullptr;

void DumpCrashingInput() {
  gCrashingInputDumped = true;
  if (gLibFuzzerDeathCallback != nullptr) {
    gLibFuzzerDeathCallback();
  }
}

int StopAwareCallback(const uint8_t *data, size_t size) {
  int result = gTargetCallback(data, size);
  if (result == kStopFuzzing) {
    // Jazzer.js has printed the finding and dumped the input (or a signal
    // asked for an orderly stop, which is not a finding).
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(gCrashingInputDumped ? kFindingExitCode : 0);
  }
  return result;
}

// Fake PCs of the module counters: after the addon's global counter map, whose
// fake PCs are the counter indices (at most 1 << 20 of them, see
// @jazzer.js/fuzzer's coverage.ts, MAX_NUM_COUNTERS).
uintptr_t gNextModulePc = uintptr_t{1} << 20;

struct PCTableEntry {
  uintptr_t pc;
  uintptr_t flags;
};
} // namespace

extern "C" [[maybe_unused]] void
__sanitizer_set_death_callback(void (*callback)()) {
  gLibFuzzerDeathCallback = callback;
  __jazzer_set_death_callback(DumpCrashingInput);
}

void RunUpstreamFuzzerDriver(int *argc, char ***argv,
                             fuzzer::UserCallback callback) {
  gTargetCallback = callback;
  fuzzer::FuzzerDriver(argc, argv, StopAwareCallback);
}

void RegisterModuleCounters(const Napi::CallbackInfo &info) {
  if (info.Length() != 1 || !info[0].IsBuffer()) {
    throw Napi::Error::New(info.Env(),
                           "Need one argument: the module's counter Buffer");
  }
  auto counters = info[0].As<Napi::Buffer<uint8_t>>();
  size_t length = counters.Length();
  if (length == 0) {
    return;
  }
  // libFuzzer reads the counters and this table until the process ends; the
  // JavaScript side keeps the Buffer referenced for the same reason.
  auto *pcs = new PCTableEntry[length];
  for (size_t i = 0; i < length; ++i) {
    pcs[i] = {gNextModulePc++, 0};
  }
  __sanitizer_cov_8bit_counters_init(counters.Data(), counters.Data() + length);
  __sanitizer_cov_pcs_init(reinterpret_cast<const uintptr_t *>(pcs),
                           reinterpret_cast<const uintptr_t *>(pcs + length));
}

// void __sanitizer_cov_trace_const_cmp8_with_pc(uintptr_t pc, uint64_t a,
//                                               uint64_t b);
// void __sanitizer_cov_trace_pc_indir_with_pc(void *pc, uintptr_t callee);
//
// Each pushes a padding word (the callee expects the stack 16-byte aligned
// before its return address) and, as return address, the stub at index
// (pc & 4095) of a 4096-byte-aligned block of 3-byte stubs; 3 is odd, so the
// low 12 bits of the stub addresses are distinct. A stub pops the padding
// word and returns to the real caller.
asm(R"(
  .pushsection .text
  # In: the PC in %rdi. Pushes the padding word and the stub's address.
  .macro push_fake_caller
  sub $8, %rsp
  and $4095, %rdi
  lea (%rdi,%rdi,2), %rdi
  lea skiff_fake_caller_stubs(%rip), %rax
  add %rax, %rdi
  push %rdi
  .endm

  .globl __sanitizer_cov_trace_const_cmp8_with_pc
  .type __sanitizer_cov_trace_const_cmp8_with_pc, @function
__sanitizer_cov_trace_const_cmp8_with_pc:
  push_fake_caller
  mov %rsi, %rdi
  mov %rdx, %rsi
  jmp __sanitizer_cov_trace_const_cmp8@PLT
  .size __sanitizer_cov_trace_const_cmp8_with_pc, .-__sanitizer_cov_trace_const_cmp8_with_pc

  .globl __sanitizer_cov_trace_pc_indir_with_pc
  .type __sanitizer_cov_trace_pc_indir_with_pc, @function
__sanitizer_cov_trace_pc_indir_with_pc:
  push_fake_caller
  mov %rsi, %rdi
  jmp __sanitizer_cov_trace_pc_indir@PLT
  .size __sanitizer_cov_trace_pc_indir_with_pc, .-__sanitizer_cov_trace_pc_indir_with_pc

  .p2align 12
skiff_fake_caller_stubs:
  .rept 4096
  pop %rcx
  ret
  nop
  .endr
  .popsection
)");
