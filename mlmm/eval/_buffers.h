/* Buffer checks shared by mlmm.eval's C kernels: a wrong size or a read-only output is a ValueError. */
#ifndef MLMM_EVAL_BUFFERS_H
#define MLMM_EVAL_BUFFERS_H
#include <Python.h>

static int check_buffer(Py_buffer *b, Py_ssize_t bytes, const char *name, int writable) {
    if (b->len != bytes) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd bytes, got %zd", name, bytes, b->len);
        return -1;
    }
    if (writable && b->readonly) {
        PyErr_Format(PyExc_ValueError, "%s: output buffer is read-only", name);
        return -1;
    }
    return 0;
}

#endif
