"""The compiled layer: Cython bindings over the C core in cext/.

``_core`` holds the tokenizer (tables in, ids out, the worker pool), ``_io`` the prefetch
reader. Both declare the C API through ``capi.pxd`` and convert C error codes to
:mod:`warptok.errors` in one function each (``_check``, ``_raise``). Nothing above this
package touches C; everything in it releases the GIL for the work.
"""
