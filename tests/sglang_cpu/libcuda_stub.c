/* Test-only: a no-op CUDA driver (libcuda.so.1) for running SGLang on a machine without a GPU.
 *
 * SGLang's PyPI wheel ships sgl_kernel built for CUDA only; its shared objects are linked against
 * the driver library, so `import sgl_kernel` (which SGLang does even with SGLANG_USE_CPU_ENGINE=1
 * and --device cpu) dies in sgl_kernel/__init__.py where no libcuda.so.1 exists. This library
 * supplies the driver entry points it links against, each answering "no device", so the import
 * succeeds and torch reports no GPU. Built by .ci/sglang-cpu.sh; used only by tests/test_sglang_cpu.py.
 * It is not part of any run on real hardware.
 *
 * The names: every cu* symbol that `nm -D --undefined-only` lists for sgl_kernel's libraries in
 * SGLang 0.5.23, plus those libcudart looks up first (cuDriverGetVersion, cuGetProcAddress*). */

#define CUDA_ERROR_NO_DEVICE 100

#define NO_DEVICE(name) \
    int name(void) { return CUDA_ERROR_NO_DEVICE; }

NO_DEVICE(cuInit)
NO_DEVICE(cuDriverGetVersion)
NO_DEVICE(cuDeviceGet)
NO_DEVICE(cuDeviceGetCount)
NO_DEVICE(cuGetProcAddress)
NO_DEVICE(cuGetProcAddress_v2)
NO_DEVICE(cuGetErrorString)
NO_DEVICE(cuGetErrorName)
NO_DEVICE(cuPointerGetAttribute)
NO_DEVICE(cuStreamCreate)
NO_DEVICE(cuCtxPushCurrent_v2)
NO_DEVICE(cuCtxPopCurrent_v2)
NO_DEVICE(cuCtxFromGreenCtx)
NO_DEVICE(cuGreenCtxCreate)
NO_DEVICE(cuGreenCtxDestroy)
NO_DEVICE(cuGreenCtxGetDevResource)
NO_DEVICE(cuDeviceGetDevResource)
NO_DEVICE(cuDevResourceGenerateDesc)
NO_DEVICE(cuDevSmResourceSplitByCount)
