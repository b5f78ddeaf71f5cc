// version.h: shrink's version (shrink --version, shrink_version()), and the commit the
// Makefile passes for the files that print it.
#pragma once
#define SHRINK_VERSION "0.1.0"
#ifndef SHRINK_COMMIT  // the Makefile passes `git rev-parse --short HEAD`
#define SHRINK_COMMIT "unknown"
#endif
