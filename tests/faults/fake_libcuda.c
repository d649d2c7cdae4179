/* A stand-in for the CUDA driver, libcuda.so.1, for the tests of a machine without a GPU: the
 * four calls losscape makes through dlopen (src/device.cpp) for one device, "Fake V100", whose
 * compute capability is FAKE_CUDA_CC ("7.0" unless set), read at each call so that a test can
 * change it. Loaded only where LD_LIBRARY_PATH names its folder (tests/CMakeLists.txt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kSuccess = 0, kInvalidValue = 1, kInvalidDevice = 101 };

int cuInit(unsigned flags) { return flags == 0 ? kSuccess : kInvalidValue; }

int cuDeviceGet(int* device, int ordinal) {
  if (ordinal != 0) return kInvalidDevice;
  *device = 0;
  return kSuccess;
}

int cuDeviceGetName(char* name, int len, int device) {
  if (device != 0 || len < 1) return kInvalidValue;
  snprintf(name, (size_t)len, "%s", "Fake V100");
  return kSuccess;
}

int cuDeviceGetAttribute(int* value, int attribute, int device) {
  const char* cc = getenv("FAKE_CUDA_CC");
  int major = 7, minor = 0;
  if (cc != NULL && sscanf(cc, "%d.%d", &major, &minor) != 2) return kInvalidValue;
  if (device != 0) return kInvalidDevice;
  if (attribute == 75) *value = major;      /* CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR */
  else if (attribute == 76) *value = minor; /* CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR */
  else return kInvalidValue;
  return kSuccess;
}
