/* The off-thread stream-key check: answers arrive on the loop's thread, a cancelled request
 * gets no answer, and nothing leaks when the checker stops with requests in flight. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/publish.h"
#include "auth/secret.h"
#include "test.h"

struct answer {
    struct loop *loop;
    pthread_t loop_thread;
    int calls, err, want;
    char name[72];
    bool on_loop_thread;
};

static void done(void *arg, int err, const char *name)
{
    struct answer *a = arg;
    a->calls++;
    a->err = err;
    a->on_loop_thread = pthread_equal(pthread_self(), a->loop_thread);
    snprintf(a->name, sizeof(a->name), "%s", name ? name : "");
    if (a->calls == a->want)
        loop_stop(a->loop);
}

static void never(void *arg, int err, const char *name)
{
    (*(int *)arg)++;
}

int main(void)
{
    char dir[] = "/tmp/kibitka-test-publish-XXXXXX", url[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(url, sizeof(url), "sqlite:%s/k.db", dir);
    struct db *db = NULL;
    CHECK_EQ_INT(db_open(url, &db), 0);
    struct db_user u = {.name = "alice", .password_hash = "x", .role = DB_ROLE_USER};
    CHECK_EQ_INT(db_user_create(db, &u), 0);
    char key[SECRET_TEXT_MAX], hash[SECRET_HASH_LEN + 1];
    CHECK_EQ_INT(secret_new("sk_", key, hash), 0);
    struct db_stream st = {.name = "cam", .owner_id = u.id, .key_hash = hash};
    CHECK_EQ_INT(db_stream_create(db, &st), 0);

    struct loop *loop = loop_create();
    struct publish_auth *pa = publish_auth_create(db, loop);
    struct answer good = {loop, pthread_self(), 0, 1, 1, "", false};
    publish_auth_check(pa, key, done, &good);
    CHECK_EQ_INT(loop_run(loop), 0);
    CHECK_EQ_INT(good.calls, 1);
    CHECK_EQ_INT(good.err, 0);
    CHECK_STREQ(good.name, "cam");
    CHECK(good.on_loop_thread);

    struct answer bad = {loop, pthread_self(), 0, 1, 1, "", false};
    publish_auth_check(pa, "sk_wrong", done, &bad);
    CHECK_EQ_INT(loop_run(loop), 0);
    CHECK_EQ_INT(bad.err, -ENOENT);

    int cancelled = 0;
    struct publish_auth_req *r = publish_auth_check(pa, key, never, &cancelled);
    publish_auth_cancel(pa, r);
    struct answer after = {loop, pthread_self(), 0, 1, 1, "", false};
    publish_auth_check(pa, key, done, &after); /* answered after the cancelled one */
    CHECK_EQ_INT(loop_run(loop), 0);
    CHECK_EQ_INT(cancelled, 0);
    CHECK_EQ_INT(after.err, 0);

    /* In flight at shutdown: cancelled, then freed by destroy or by the loop's last posts. */
    for (int i = 0; i < 5; i++)
        publish_auth_cancel(pa, publish_auth_check(pa, key, never, &cancelled));
    publish_auth_destroy(&pa);
    loop_destroy(&loop);
    CHECK_EQ_INT(cancelled, 0);
    CHECK(pa == NULL && loop == NULL);
    free(u.id);
    free(st.id);
    db_close(&db);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return test_report("test_publish");
}
