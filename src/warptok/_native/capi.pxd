# The C API of cext/, declared once for both extensions (_core.pyx and _io.pyx cimport it).
# Only declarations: nothing here exists at run time, and each extension links only the
# C files setup.py lists for it. Constants the Python layer needs (opcodes, table layouts,
# general categories) are declared here too, so that _core can export the C values
# instead of the Python layer typing them again.

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t

cdef extern from "common/wt_common.h":
    enum:
        WT_OK
        WT_ENOMEM
        WT_EINVAL
        WT_ETHREAD
        WT_EREGEX_STACK

cdef extern from "common/alloc.h":
    void *wt_malloc(size_t n) nogil
    void *wt_calloc(size_t n, size_t sz) nogil
    void wt_free(void *p) nogil
    void wt_alloc_collect() nogil
    void wt_alloc_init()
    void *wt_pages_alloc(size_t n) nogil
    void wt_pages_free(void *p, size_t n) nogil
    const char *WT_ALLOCATOR_NAME

# ---------------------------------------------------------------- the tokenizer core

cdef extern from "common/pool.h":
    int wt_cpu_count() nogil

cdef extern from "text/unicode_data.h":
    const char *WT_UNICODE_VERSION
    unsigned wt_uc_props(int dialect, uint32_t cp) nogil
    enum:
        WT_GC_Cn, WT_GC_Lu, WT_GC_Ll, WT_GC_Lt, WT_GC_Lm, WT_GC_Lo, WT_GC_Mn, WT_GC_Mc, WT_GC_Me
        WT_GC_Nd, WT_GC_Nl, WT_GC_No, WT_GC_Pc, WT_GC_Pd, WT_GC_Ps, WT_GC_Pe, WT_GC_Pi, WT_GC_Pf
        WT_GC_Po, WT_GC_Sm, WT_GC_Sc, WT_GC_Sk, WT_GC_So, WT_GC_Zs, WT_GC_Zl, WT_GC_Zp, WT_GC_Cc
        WT_GC_Cf, WT_GC_Cs, WT_GC_Co
        WT_UC_GC_MASK, WT_UC_SPACE, WT_UC_DIGIT, WT_UC_WORD
        WT_DIALECT_ONIG, WT_DIALECT_FANCY

cdef extern from "text/utf8_encode.h":
    size_t WT_UTF8_ROOM(int kind, size_t n) nogil
    size_t wt_utf8_encode_units(int kind, const void *units, size_t n, uint8_t *out) nogil

cdef extern from "pretokenize/regex.h":
    ctypedef struct wt_regex:
        pass
    ctypedef struct wt_restack:
        void *items
        size_t len, cap
    enum:
        WT_OP_MATCH, WT_OP_CHAR, WT_OP_CLASS, WT_OP_REP, WT_OP_SPLIT, WT_OP_JMP
        WT_OP_ATOMIC_BEGIN, WT_OP_ATOMIC_END, WT_OP_LOOK, WT_OP_ASSERT, WT_OP_ALT
        WT_ASSERT_BOT, WT_ASSERT_EOT, WT_ASSERT_BOL, WT_ASSERT_EOL, WT_ASSERT_EOT_NL
        WT_ITEM_RANGE, WT_ITEM_GC, WT_ITEM_PROP
        WT_REP_WIDTH, WT_ALT_ENTRY
    wt_regex *wt_regex_new(const int32_t *prog, size_t n_prog, const int32_t *classes,
                           size_t n_words, int dialect, int *err) nogil
    void wt_regex_free(wt_regex *re) nogil
    int wt_regex_match_at(const wt_regex *re, const uint8_t *s, size_t n, size_t pos,
                          size_t *end, wt_restack *st) nogil
    void wt_restack_free(wt_restack *st) nogil

cdef extern from "bpe/piece_table.h":
    ctypedef struct wt_piece_table:
        size_t mask
        size_t spilled
    int64_t wt_pt_find(const wt_piece_table *t, const uint8_t *p, size_t n, uint64_t h, uint32_t *out) nogil
    uint64_t wt_pt_hash_of(const uint8_t *p, size_t n) nogil
    void wt_pt_count(const wt_piece_table *t, size_t *short_entries, size_t *long_entries) nogil
    int64_t wt_pt_key_mismatch(const uint8_t *s, size_t n) nogil

cdef extern from "bpe/bpe.h":
    ctypedef struct wt_bpe_linear:
        uint32_t n_nodes
    ctypedef struct wt_bpe:
        wt_piece_table pieces
        int whole_seeded
        uint32_t n_ids
        uint32_t *tok_off
        uint8_t *tok_bytes
        uint8_t *tok_flags
        wt_piece_table pieces
        int linear_status
        uint32_t linear_bad_id
        uint32_t n_unordered
        wt_bpe_linear lin
    ctypedef struct wt_bpe_scratch:
        pass
    enum:
        WT_ALGO_AUTO, WT_ALGO_HEAP, WT_ALGO_LINEAR, WT_ALGO_SMALL, WT_ALGO_CUTS
        WT_LINEAR_ON, WT_LINEAR_BROKEN, WT_LINEAR_OFF
        WT_TOK_BPE, WT_TOK_SPECIAL, WT_TOK_WHOLE, WT_TOK_PRESENT, WT_TOK_UNORDERED
    int wt_bpe_init(wt_bpe *b, uint32_t n_ids, const uint32_t *tok_off, const uint8_t *tok_bytes,
                    const uint8_t *tok_flags, int mode_tiktoken, const uint32_t *merges,
                    size_t n_merges, int ignore_merges, int linear, size_t cache_sets) nogil
    int64_t wt_bpe_merge_with(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out,
                              wt_bpe_scratch *sc, int algo) nogil
    uint64_t wt_hash_bytes(const uint8_t *p, size_t n) nogil

cdef extern from "pretokenize/scan.h":
    enum:
        WT_SCAN_RANGES
        WT_SCAN_GPT2, WT_SCAN_CL100K, WT_SCAN_O200K, WT_SCAN_DS3, WT_SCAN_RUN
        WT_MASKS_WIDEST, WT_MASKS_VECTOR, WT_MASKS_WORDS
        WT_CONTRACT_NONE, WT_CONTRACT_LOWER, WT_CONTRACT_ANY_CASE
    ctypedef struct wt_scanner:
        int family, dialect, contractions, max_digits, marks_are_letters, ws_end_first, trail_slash
        int masks, blocks
        int n_ranges
        uint32_t ranges[WT_SCAN_RANGES][2]
    int wt_scanner_init(wt_scanner *sc) nogil

cdef extern from "text/nfc.h":
    ctypedef struct wt_nfc:
        uint8_t *unstable
    ctypedef struct wt_nfc_scratch:
        uint8_t *out
    void wt_nfc_scratch_free(wt_nfc_scratch *sc) nogil
    int wt_nfc_apply(const wt_nfc *f, const uint8_t *s, size_t n, wt_nfc_scratch *sc, size_t *out_n) nogil
    int wt_nfc_init(wt_nfc *f, const uint8_t *unstable, size_t n_chars, const uint32_t *char_cp,
                    const uint8_t *char_ccc, const uint8_t *decomp_len, const uint32_t *decomp,
                    size_t n_pairs, const uint32_t *pair_first, const uint32_t *pair_second,
                    const uint32_t *pair_composite) nogil

cdef extern from "text/normalize.h":
    ctypedef struct wt_norm:
        int n_steps
    ctypedef struct wt_norm_buf:
        uint8_t *p
        size_t cap
    enum:
        WT_NORM_PREPEND, WT_NORM_REPLACE, WT_NORM_RUNS, WT_MAP_BLOCK
    wt_norm *wt_norm_new() nogil
    void wt_norm_free(wt_norm *nm) nogil
    int wt_norm_add_map(wt_norm *nm, const uint32_t *block_of, size_t n_block_of, const uint32_t *entries,
                        size_t n_entries, const uint8_t *blob, size_t n_blob) nogil
    int wt_norm_add_bytes(wt_norm *nm, int kind, const uint8_t *a, size_t na, const uint8_t *b, size_t nb) nogil
    int wt_norm_add_strip(wt_norm *nm, int left, int right) nogil
    int wt_norm_add_precompiled(wt_norm *nm, const uint8_t *data, size_t n) nogil
    int wt_norm_apply(const wt_norm *nm, const uint8_t *s, size_t n, const uint8_t **out, size_t *out_n,
                      int *lost_start) nogil

cdef extern from "text/precompiled.h":
    ctypedef struct wt_precompiled:
        pass
    int wt_precompiled_new(wt_precompiled **out, const uint8_t *data, size_t n) nogil
    void wt_precompiled_free(wt_precompiled *pc) nogil
    int wt_precompiled_apply(const wt_precompiled *pc, const uint8_t *s, size_t n, wt_norm_buf *buf,
                             size_t *out_n) nogil

cdef extern from "text/grapheme.h":
    size_t wt_grapheme_end(const uint8_t *s, size_t n, size_t pos) nogil

cdef extern from "pretokenize/classes.h":
    ctypedef struct wt_classes:
        pass
    ctypedef struct wt_metaspace:
        uint8_t rep[4]
        size_t rep_len
        int scheme, split
    enum:
        WT_CLASS_BLOCK, WT_CLASS_REMOVED, WT_CLASS_ISOLATED
        WT_PREPEND_ALWAYS, WT_PREPEND_NEVER, WT_PREPEND_FIRST
    int wt_classes_init(wt_classes *c, const uint32_t *block_of, size_t n_block_of, const uint8_t *classes,
                        size_t n_classes) nogil

cdef extern from "models/models.h":
    enum:
        WT_MODEL_WORDPIECE, WT_MODEL_WORDLEVEL, WT_MODEL_BPE, WT_MODEL_UNIGRAM
        WT_EUNK
    ctypedef struct wt_model:
        pass
    ctypedef struct wt_model_def:
        int kind
        uint32_t n_ids
        const uint32_t *off
        const uint8_t *bytes
        const uint8_t *present
        uint32_t unk
        const uint8_t *prefix
        size_t prefix_len
        size_t max_chars
        const uint32_t *merges
        size_t n_merges
        const uint8_t *suffix
        size_t suffix_len
        int byte_fallback, fuse_unk, ignore_merges
        int unk_missing
        const double *scores
        size_t test_slots
    int wt_model_new(wt_model **out, const wt_model_def *d, wt_piece_table *table) nogil
    int64_t wt_model_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out) nogil

cdef extern from "pipeline/tokenizer.h":
    enum:
        WT_MAX_STAGES
        WT_STAGE_PATTERN, WT_STAGE_CLASSES, WT_STAGE_METASPACE
        WT_SPLIT_ISOLATED, WT_SPLIT_REMOVED, WT_SPLIT_MERGED_PREV, WT_SPLIT_MERGED_NEXT, WT_SPLIT_CONTIGUOUS
        WT_ADDED_LSTRIP, WT_ADDED_RSTRIP
    ctypedef struct wt_added:
        pass
    ctypedef struct wt_stage:
        wt_regex *re
        wt_scanner scan
        int behavior, invert, prefix_space
        int kind
        wt_classes classes
        wt_metaspace ms
    ctypedef struct wt_tokenizer:
        wt_bpe bpe
        wt_nfc nfc
        wt_stage stages[16]
        uint32_t n_stages
        uint32_t fused_at
        wt_added added[2]
        int filter_inactive
        uint32_t *prefix
        uint32_t *suffix
        uint32_t n_prefix, n_suffix
        wt_norm *norm
        wt_model *model
    ctypedef struct wt_encode_opts:
        const uint8_t *active[2]
        int first_pass
        size_t max_body
        int add_special
        int mid_text
    ctypedef struct wt_ids:
        uint32_t *ids
        size_t len, cap
    ctypedef struct wt_bytes:
        uint8_t *p
        size_t len, cap
    ctypedef struct wt_text:
        const uint8_t *s
        size_t n
    ctypedef struct wt_flat:
        uint32_t *ids
        int64_t *offsets
        size_t n_docs
    ctypedef struct wt_batch:
        pass
    int wt_added_init(wt_added *a, uint32_t n_nodes, const uint32_t *first_edge, const uint8_t *edge_byte,
                      const uint32_t *edge_target, const int32_t *node_added, uint32_t n_added,
                      const uint32_t *added_id, const uint8_t *added_flags) nogil
    void wt_tokenizer_free(wt_tokenizer *t) nogil
    void wt_tokenizer_fuse(wt_tokenizer *t) nogil
    void wt_ids_free(wt_ids *b) nogil
    void wt_bytes_free(wt_bytes *b) nogil
    wt_ids *wt_thread_ids() nogil
    const uint8_t *wt_thread_utf8(int kind, const void *units, size_t n, size_t *len, int *rc) nogil
    int wt_encode(const wt_tokenizer *t, const uint8_t *s, size_t n, const wt_encode_opts *o, wt_ids *out) nogil
    int wt_encode_long(const wt_tokenizer *t, const uint8_t *s, size_t n, const wt_encode_opts *o, int n_threads,
                       wt_ids *out, wt_batch **parts) nogil
    size_t wt_batch_chunks(const wt_batch *b) nogil
    const uint32_t *wt_batch_chunk(const wt_batch *b, size_t c, size_t *n) nogil
    size_t wt_long_parts(const wt_tokenizer *t, const uint8_t *s, size_t n, const wt_encode_opts *o, int n_threads,
                         size_t *starts, size_t max) nogil
    int wt_find_added(const wt_tokenizer *t, int pass_, const uint8_t *s, size_t n, size_t pos,
                      const uint8_t *active, size_t *start, size_t *end, uint32_t *index) nogil
    int wt_pre_tokenize(const wt_tokenizer *t, const uint8_t *s, size_t n, wt_bytes *out, wt_ids *lens) nogil
    int wt_encode_batch(const wt_tokenizer *t, const wt_text *texts, size_t n_texts,
                        const wt_encode_opts *o, int n_threads, wt_flat *res) nogil
    void wt_flat_free(wt_flat *f) nogil
    wt_batch *wt_batch_begin(const wt_tokenizer *t, const wt_text *texts, size_t n_texts,
                             const wt_encode_opts *o, int n_threads, int *rc) nogil
    int wt_batch_step(wt_batch *b) nogil
    size_t wt_batch_ready(wt_batch *b) nogil
    const uint32_t *wt_batch_doc(const wt_batch *b, size_t i, size_t *n) nogil
    int wt_batch_finish(wt_batch *b) nogil
    void wt_batch_free(wt_batch *b) nogil
    int wt_decode(const wt_tokenizer *t, const uint32_t *ids, size_t n, int skip_special,
                  int skip_unknown, uint8_t **out, size_t *out_len, size_t *bad_index) nogil
    wt_bpe_scratch *wt_thread_bpe_scratch() nogil
    int wt_work_counters(uint64_t *bpe, uint64_t *split, uint64_t *normalize, int reset) nogil

# ---------------------------------------------------------------- the prefetch reader

cdef extern from "io/reader.h":
    enum:
        WT_EIO, WT_ETIMEOUT, WT_EHTTP, WT_EPROTO, WT_ENOTFOUND, WT_ECLOSED, WT_ECHANGED
        WT_ENORANGE, WT_EURL, WT_EFORK, WT_ECANCELED, WT_ERANGE, WT_ENET, WT_ETLS
    ctypedef struct wt_rerr:
        int code
        int sys_errno
        int http_status
        int attempts
        char msg[320]
    ctypedef struct wt_tls_conf:
        int available
        const char *lib
        const char *ca_file
        const char *ca_dir
        const uint8_t *ca_der
        size_t ca_der_len
        int verify
        int check_hostname
        unsigned long verify_flags
        int min_version
    ctypedef struct wt_reader_opts:
        uint64_t floor
        uint64_t tensor_cap
        uint64_t direct_min
        uint64_t unit
        uint64_t probe
        uint32_t max_slots
        uint32_t io_threads
        double timeout
        int retries
        int prefetch
        const char *headers
        wt_tls_conf tls
    ctypedef struct wt_rstats:
        uint64_t requests, bytes_fetched, retries, slot_fetches, spec_fetches, direct_fetches
        uint64_t hit_bytes, waits, evictions, slot_bytes
    ctypedef struct wt_rjob:
        uint64_t off, len
        uint8_t *dst
    ctypedef struct wt_reader:
        pass
    wt_reader *wt_reader_open(const char *source, int is_url, const wt_reader_opts *o,
                              const uint8_t **probe_out, size_t *probe_len, wt_rerr *err) nogil
    void wt_reader_drop_probe(wt_reader *r) nogil
    uint64_t wt_reader_size(const wt_reader *r) nogil
    int wt_reader_read(wt_reader *r, uint64_t off, uint64_t len, uint8_t *dst, wt_rerr *err) nogil
    int wt_reader_read_many(wt_reader *r, const wt_rjob *jobs, size_t n, uint32_t threads, wt_rerr *err) nogil
    int wt_reader_set_tensors(wt_reader *r, const uint64_t *bounds, size_t n, wt_rerr *err) nogil
    void wt_reader_stats(wt_reader *r, wt_rstats *s) nogil
    void wt_reader_shutdown(wt_reader *r) nogil
    void wt_reader_free(wt_reader *r) nogil
    int wt_reader_prefetching(const wt_reader *r) nogil
    void wt_io_set_budget(uint64_t b) nogil
    uint64_t wt_io_budget() nogil
    uint64_t wt_io_used() nogil
