/*
 * Loading a file that ships beside the binary that asks: the exporter
 * module beside libotelshim.so, and the libraries a relocatable bundle
 * (make dist) keeps in lib/ there.  Each binary links its own copy of this
 * code, so "beside" means beside whichever of them holds the caller.
 */
#ifndef OTELSHIM_BESIDE_H
#define OTELSHIM_BESIDE_H

/*
 * dlopen()s rel (a path relative to the folder of the shared object that
 * holds this code) with RTLD_NOW | RTLD_LOCAL; when that fails and
 * fallback is not NULL, dlopen()s fallback, a name the dynamic loader
 * searches for.  Returns the handle or NULL (dlerror() says why).
 */
void *dlopen_beside(const char *rel, const char *fallback);

#endif
