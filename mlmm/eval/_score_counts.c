/*
 * mlmm.eval._score_counts: the four counts the one-pass retrieval ranking needs from a block of scores, in a
 * single read of the block (numpy needs four compare-and-reduce passes).
 *
 * For scores s [C, N] (float32, C-contiguous), row thresholds best [C] and column brackets lower <= upper [N]:
 *   row_above[i] = #{j: s[i,j] > best[i]}          row_at[i] = #{j: s[i,j] == best[i]}
 *   col_above[j] += #{i: s[i,j] > upper[j]}        col_in[j] += #{i: lower[j] <= s[i,j] <= upper[j]}
 * over rows [start, stop). Column counts are int32 and accumulated (callers give each thread its own
 * arrays); the GIL is released, so disjoint row ranges can run in threads. Written so that compilers
 * vectorise the inner loop (comparisons as 0/1 integers, no branches).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_buffers.h"
#include <stdint.h>
#include <string.h>

static void count_rows(const float *scores, const float *best, const float *lower, const float *upper,
                       int64_t *row_above, int64_t *row_at, int32_t *restrict col_above, int32_t *restrict col_in,
                       Py_ssize_t n, Py_ssize_t start, Py_ssize_t stop) {
    for (Py_ssize_t i = start; i < stop; ++i) {
        const float *restrict row = scores + i * n;
        const float b = best[i];
        int32_t above = 0, at = 0;
        for (Py_ssize_t j = 0; j < n; ++j) {
            const float v = row[j];
            above += v > b;
            at += v == b;
            col_above[j] += v > upper[j];
            col_in[j] += (v >= lower[j]) & (v <= upper[j]);
        }
        row_above[i] = above;
        row_at[i] = at;
    }
}

PyDoc_STRVAR(count_doc,
             "count(scores, n_columns, best, lower, upper, start, stop, row_above, row_at, col_above, col_in)\n\n"
             "scores float32 [C, n_columns]; best float32 [C]; lower, upper float32 [n_columns];\n"
             "row_above, row_at int64 [C] (rows [start, stop) written); col_above, col_in int32 [n_columns]\n"
             "(accumulated). See the module source comment.");

static PyObject *count(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer b[8];
    Py_ssize_t n, start, stop;
    memset(b, 0, sizeof(b));
    if (!PyArg_ParseTuple(args, "y*ny*y*y*nnw*w*w*w*", &b[0], &n, &b[1], &b[2], &b[3], &start, &stop, &b[4], &b[5],
                          &b[6], &b[7]))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t rows = n > 0 ? b[0].len / (4 * n) : 0;
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "n_columns must be >= 1");
        goto done;
    }
    if (check_buffer(&b[0], rows * n * 4, "scores", 0) || check_buffer(&b[1], rows * 4, "best", 0) ||
        check_buffer(&b[2], n * 4, "lower", 0) || check_buffer(&b[3], n * 4, "upper", 0) || check_buffer(&b[4], rows * 8, "row_above", 1) ||
        check_buffer(&b[5], rows * 8, "row_at", 1) || check_buffer(&b[6], n * 4, "col_above", 1) || check_buffer(&b[7], n * 4, "col_in", 1))
        goto done;
    if (start < 0 || stop > rows || start > stop) {
        PyErr_Format(PyExc_ValueError, "row range [%zd, %zd) outside [0, %zd)", start, stop, rows);
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS;
    count_rows(b[0].buf, b[1].buf, b[2].buf, b[3].buf, b[4].buf, b[5].buf, b[6].buf, b[7].buf, n, start, stop);
    Py_END_ALLOW_THREADS;
    result = Py_None;
    Py_INCREF(result);
done:
    for (int i = 0; i < 8; ++i)
        if (b[i].obj) PyBuffer_Release(&b[i]);
    return result;
}

static PyMethodDef methods[] = {{"count", count, METH_VARARGS, count_doc}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_score_counts", "Row and column counts of a score block (see the source comment).", -1,
    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__score_counts(void) { return PyModule_Create(&module); }
