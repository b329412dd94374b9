/* The recording and chunk operations of db.h, part of the dual-backend suite (db_suite.h runs
 * suite_recordings on SQLite and PostgreSQL). */
#ifndef KIBITKA_TEST_DB_RECORDINGS_H
#define KIBITKA_TEST_DB_RECORDINGS_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "test.h"

static void rec_make(struct db *db, const char *id, const char *stream_id, const char *stream,
                     const char *user_id, const char *user, int64_t started)
{
    struct db_recording r = {.id = (char *)id,
                             .stream_id = (char *)stream_id,
                             .stream_name = (char *)stream,
                             .user_id = (char *)user_id,
                             .user_name = (char *)user,
                             .started_at = started,
                             .state = DB_REC_RECORDING};
    CHECK_EQ_INT(db_recording_create(db, &r), 0);
    CHECK(r.created_at > 0);
}

static void chunk_make(struct db *db, const char *rec, int seq, enum db_chunk_state state,
                       int64_t started)
{
    char key[160];
    snprintf(key, sizeof(key), "u/s/2026-01-01/%s/%06d.mp4", rec, seq);
    struct db_chunk c = {.recording_id = (char *)rec,
                         .seq = seq,
                         .object_key = key,
                         .state = state,
                         .started_at = started};
    CHECK_EQ_INT(db_chunk_create(db, &c), 0);
}

static void rec_states(void)
{
    enum db_recording_state rs;
    enum db_chunk_state cs;
    CHECK_EQ_INT(db_recording_state_parse("ready", &rs), 0);
    CHECK_EQ_INT(rs, DB_REC_READY);
    CHECK_EQ_INT(db_recording_state_parse("bogus", &rs), -EINVAL);
    CHECK_EQ_INT(db_chunk_state_parse("uploading", &cs), 0);
    CHECK_EQ_INT(cs, DB_CHUNK_UPLOADING);
    CHECK_STREQ(db_chunk_state_name(DB_CHUNK_PENDING), "pending");
    CHECK_STREQ(db_recording_state_name(DB_REC_FINISHED), "finished");
}

static void rec_chunks(struct db *db, const char *rec)
{
    chunk_make(db, rec, 1, DB_CHUNK_RECORDING, 1000);
    chunk_make(db, rec, 2, DB_CHUNK_RECORDING, 2000);
    struct db_chunk c = {0};
    CHECK_EQ_INT(
        db_chunk_create(
            db, &(struct db_chunk){.recording_id = (char *)rec, .seq = 1, .object_key = "x"}),
        -EEXIST);
    CHECK_EQ_INT(db_chunk_create(db, &(struct db_chunk){.recording_id = "nope",
                                                        .seq = 1,
                                                        .object_key = "x",
                                                        .started_at = 1}),
                 -ENOENT);
    CHECK_EQ_INT(db_chunk_get(db, rec, 1, &c), 0);
    CHECK_EQ_INT(c.state, DB_CHUNK_RECORDING);
    CHECK_EQ_INT(c.ended_at, 0);
    c.state = DB_CHUNK_PENDING;
    c.bytes = 12345;
    c.duration_us = 300000000;
    c.ended_at = 1500;
    CHECK_EQ_INT(db_chunk_update(db, &c), 0);
    db_chunk_clear(&c);
    CHECK_EQ_INT(db_chunk_get(db, rec, 1, &c), 0);
    CHECK_EQ_INT(c.state, DB_CHUNK_PENDING);
    CHECK_EQ_INT(c.bytes, 12345);
    CHECK_EQ_INT(c.ended_at, 1500);
    CHECK(c.object_key && strstr(c.object_key, "/000001.mp4"));
    db_chunk_clear(&c);
    CHECK_EQ_INT(db_chunk_get(db, rec, 9, &c), -ENOENT);

    struct db_chunk *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(db_chunk_list_pending(db, &list, &n), 0);
    CHECK_EQ_INT(n, 1);
    db_chunk_list_free(&list, n);
    CHECK_EQ_INT(db_chunk_set_state(db, rec, 2, DB_CHUNK_UPLOADING, 0), 0);
    CHECK_EQ_INT(db_chunk_list_pending(db, &list, &n), 0);
    CHECK_EQ_INT(n, 2); /* pending and uploading, oldest first */
    CHECK_EQ_INT(n == 2 ? list[0].seq : 0, 1);
    db_chunk_list_free(&list, n);
    CHECK_EQ_INT(db_chunk_set_state(db, rec, 1, DB_CHUNK_UPLOADED, 7777), 0);
    CHECK_EQ_INT(db_chunk_set_state(db, rec, 3, DB_CHUNK_UPLOADED, 7777), -ENOENT);
    CHECK_EQ_INT(db_chunk_list(db, rec, &list, &n), 0);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(n == 2 ? list[0].uploaded_at : 0, 7777);
    CHECK_EQ_INT(n == 2 ? list[1].state : 0, DB_CHUNK_UPLOADING);
    db_chunk_list_free(&list, n);
}

static void rec_list(struct db *db, const char *user_id)
{
    struct db_recording *list = NULL;
    size_t n = 0;
    int64_t total = -1;
    CHECK_EQ_INT(db_recording_list(db, NULL, &list, &n, &total), 0);
    CHECK_EQ_INT(total, 3);
    CHECK_EQ_INT(n, 3);
    CHECK_STREQ(n == 3 ? list[0].id : NULL, "cccccccccccccccccccccccccccccccc"); /* newest */
    db_recording_list_free(&list, n);

    struct db_recording_filter f = {.stream_name = "cam'; DROP TABLE users; --"};
    CHECK_EQ_INT(db_recording_list(db, &f, &list, &n, &total), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(total, 1);
    db_recording_list_free(&list, n);

    f = (struct db_recording_filter){.user_id = user_id, .limit = 1, .offset = 1};
    CHECK_EQ_INT(db_recording_list(db, &f, &list, &n, &total), 0);
    CHECK_EQ_INT(total, 2);
    CHECK_EQ_INT(n, 1);
    CHECK_STREQ(n == 1 ? list[0].id : NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    CHECK_EQ_INT(n == 1 ? list[0].chunks : 0, 2);
    CHECK_EQ_INT(n == 1 ? list[0].chunks_uploaded : 0, 1);
    CHECK_EQ_INT(n == 1 ? list[0].bytes : 0, 12345);
    db_recording_list_free(&list, n);

    f = (struct db_recording_filter){.user_name = "_open"};
    CHECK_EQ_INT(db_recording_list(db, &f, &list, &n, NULL), 0);
    CHECK_EQ_INT(n, 1);
    CHECK(n == 1 && list[0].stream_id == NULL && list[0].user_id == NULL);
    db_recording_list_free(&list, n);

    f = (struct db_recording_filter){.from = 150, .to = 350};
    CHECK_EQ_INT(db_recording_list(db, &f, &list, &n, &total), 0);
    CHECK_EQ_INT(n, 2); /* started 200 and 300 */
    db_recording_list_free(&list, n);
    f.limit = -1;
    CHECK_EQ_INT(db_recording_list(db, &f, &list, &n, &total), -EINVAL);
}

static void suite_recordings(struct db *db)
{
    rec_states();
    struct db_user u = {.name = "rec_owner", .password_hash = "h"};
    CHECK_EQ_INT(db_user_create(db, &u), 0);
    struct db_stream st = {
        .name = "rec_cam", .owner_id = u.id, .key_hash = "rec_key_hash", .record = true};
    CHECK_EQ_INT(db_stream_create(db, &st), 0);

    const char *a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", *b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
               *c = "cccccccccccccccccccccccccccccccc";
    rec_make(db, a, st.id, "rec_cam", u.id, "rec_owner", 100);
    rec_make(db, b, NULL, "cam'; DROP TABLE users; --", NULL, "_open", 200);
    rec_make(db, c, st.id, "rec_cam", u.id, "rec_owner", 300);
    struct db_recording dup = {
        .id = (char *)a, .stream_name = "x", .user_name = "y", .started_at = 1};
    CHECK_EQ_INT(db_recording_create(db, &dup), -EEXIST);
    struct db_recording bad = {
        .stream_id = "nosuchstream", .stream_name = "x", .user_name = "y", .started_at = 1};
    CHECK_EQ_INT(db_recording_create(db, &bad), -ENOENT);
    CHECK(bad.id == NULL);
    struct db_recording made = {.stream_name = "x", .user_name = "y", .started_at = 50};
    CHECK_EQ_INT(db_recording_create(db, &made), 0);
    CHECK(made.id && strlen(made.id) == 32);
    CHECK_EQ_INT(db_recording_delete(db, made.id), 0);
    CHECK_EQ_INT(db_recording_delete(db, made.id), -ENOENT);
    free(made.id);

    rec_chunks(db, a);
    rec_list(db, u.id);

    struct db_recording got = {0};
    CHECK_EQ_INT(db_recording_finish(db, a, 5000), 0);
    CHECK_EQ_INT(db_recording_finish(db, a, 6000), 0); /* keeps the first end */
    CHECK_EQ_INT(db_recording_get(db, a, &got), 0);
    CHECK_EQ_INT(got.state, DB_REC_FINISHED);
    CHECK_EQ_INT(got.ended_at, 5000);
    CHECK_STREQ(got.user_name, "rec_owner");
    CHECK_STREQ(got.stream_id, st.id);
    db_recording_clear(&got);
    CHECK_EQ_INT(db_recording_set_state(db, a, DB_REC_READY), 0);
    CHECK_EQ_INT(db_recording_finish(db, a, 7000), 0); /* ready stays ready */
    CHECK_EQ_INT(db_recording_get(db, a, &got), 0);
    CHECK_EQ_INT(got.state, DB_REC_READY);
    db_recording_clear(&got);
    /* public recordings (migration 005): the last public ready one of a stream name */
    CHECK(!got.is_public);
    CHECK_EQ_INT(db_recording_last_public(db, "rec_cam", &got), -ENOENT); /* none public yet */
    CHECK_EQ_INT(db_recording_set_public(db, a, true), 0);
    CHECK_EQ_INT(db_recording_set_public(db, c, true), 0);
    CHECK_EQ_INT(db_recording_last_public(db, "rec_cam", &got), 0); /* c is not ready: a */
    CHECK_STREQ(got.id, a);
    CHECK(got.is_public);
    db_recording_clear(&got);
    CHECK_EQ_INT(db_recording_set_state(db, c, DB_REC_READY), 0);
    CHECK_EQ_INT(db_recording_last_public(db, "rec_cam", &got), 0); /* c is newer */
    CHECK_STREQ(got.id, c);
    db_recording_clear(&got);
    CHECK_EQ_INT(db_recording_set_public(db, c, false), 0);
    CHECK_EQ_INT(db_recording_get(db, c, &got), 0);
    CHECK(!got.is_public);
    db_recording_clear(&got);
    CHECK_EQ_INT(db_recording_last_public(db, "rec_cam", &got), 0); /* c private again: a */
    CHECK_STREQ(got.id, a);
    db_recording_clear(&got);
    CHECK_EQ_INT(db_recording_last_public(db, "other_cam", &got), -ENOENT);
    CHECK_EQ_INT(db_recording_set_public(db, "nope", true), -ENOENT);
    CHECK_EQ_INT(db_recording_set_state(db, c, DB_REC_RECORDING), 0); /* as it was */
    CHECK_EQ_INT(db_recording_set_public(db, a, false), 0);
    CHECK_EQ_INT(db_recording_get(db, "nope", &got), -ENOENT);
    CHECK_EQ_INT(db_recording_finish(db, "nope", 1), -ENOENT);

    /* gaps (migration 003): a chunk after one, the end of a recording */
    struct db_recording g = {.stream_name = "gappy", .user_name = "y", .started_at = 60};
    CHECK_EQ_INT(db_recording_create(db, &g), 0);
    CHECK_EQ_INT(db_recording_get(db, g.id, &got), 0);
    CHECK_EQ_INT(got.gap_us, 0);
    db_recording_clear(&got);
    struct db_chunk k = {.recording_id = g.id, .seq = 2, .object_key = "k", .started_at = 70,
                         .gap_before_us = 3000000};
    CHECK_EQ_INT(db_chunk_create(db, &k), 0);
    CHECK_EQ_INT(db_recording_set_gap_end(db, g.id, 500000), 0);
    CHECK_EQ_INT(db_recording_get(db, g.id, &got), 0);
    CHECK_EQ_INT(got.gap_end_us, 500000);
    CHECK_EQ_INT(got.gap_us, 3500000);
    db_recording_clear(&got);
    struct db_chunk kk = {0};
    CHECK_EQ_INT(db_chunk_get(db, g.id, 2, &kk), 0);
    CHECK_EQ_INT(kk.gap_before_us, 3000000);
    db_chunk_clear(&kk);
    CHECK_EQ_INT(db_recording_set_gap_end(db, "nope", 1), -ENOENT);
    CHECK_EQ_INT(db_recording_delete(db, g.id), 0);
    free(g.id);

    /* deleting the stream keeps its recordings, without the link */
    CHECK_EQ_INT(db_stream_delete(db, "rec_cam"), 0);
    CHECK_EQ_INT(db_recording_get(db, c, &got), 0);
    CHECK(got.stream_id == NULL);
    CHECK_STREQ(got.stream_name, "rec_cam");
    db_recording_clear(&got);

    /* deleting a recording takes its chunks */
    CHECK_EQ_INT(db_recording_delete(db, a), 0);
    struct db_chunk *list = NULL;
    size_t n = 9;
    CHECK_EQ_INT(db_chunk_list(db, a, &list, &n), 0);
    CHECK_EQ_INT(n, 0);
    db_chunk_list_free(&list, n);
    db_recording_delete(db, b);
    db_recording_delete(db, c);
    CHECK_EQ_INT(db_user_delete(db, "rec_owner"), 0);
    free(st.id); /* the other strings are borrowed */
    free(u.id);
}

#endif
