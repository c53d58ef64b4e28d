/* "Generating Deferreds": returning deferreds from synchronous functions.
 * immediateIsValidUser answers with dfr_succeed (or dfr_fail, the equivalent
 * with the errback chain already fired); synchronousIsValidUser is a plain
 * function that dfr_maybe_deferred wraps for callers that expect a deferred.
 * Callbacks added to an already-fired deferred run at once. */
#include <deferred.h>

#include <stdio.h>
#include <string.h>

#define EXAMPLE "example" /* our failure domain */
enum { E_NO_NAME = 1 };

static const char *const valid_users[] = {"Alice", "Angus", "Agnes"};

static bool is_valid(const char *user)
{
    for (size_t i = 0; i < sizeof valid_users / sizeof valid_users[0]; i++)
        if (strcmp(user, valid_users[i]) == 0)
            return true;
    return false;
}

/* The synchronous function: a plain answer (or a failure for an empty name;
 * a dfr_task_fn may return either). */
static dfr_value synchronous_is_valid_user(void *user)
{
    if (*(const char *)user == '\0')
        return dfr_value_failure(dfr_failure_new(EXAMPLE, E_NO_NAME, "empty user name"));
    return dfr_i64(is_valid(user));
}

/* The same answer as a deferred that has already fired. */
static dfr_deferred *immediate_is_valid_user(const char *user)
{
    if (*user == '\0')
        return dfr_fail(dfr_failure_new(EXAMPLE, E_NO_NAME, "empty user name"));
    return dfr_succeed(dfr_i64(is_valid(user)));
}

static dfr_value print_answer(dfr_value v, void *user)
{
    printf("  %-8s -> %s\n", (const char *)user, v.u.i64 ? "valid" : "not valid");
    return v; /* an i64 owns nothing: handing it on is all there is to do */
}

static dfr_value print_error(dfr_value v, void *user)
{
    printf("  %-8s -> error: %s\n", *(const char *)user ? (const char *)user : "\"\"",
           dfr_failure_message(dfr_failure_from(&v)));
    dfr_value_drop(v); /* handled: the chain goes on with none */
    return dfr_none();
}

int main(void)
{
    const char *users[] = {"Alice", "Angus", "Bob", "Agnes", ""};
    const size_t n = sizeof users / sizeof users[0];

    printf("immediateIsValidUser (dfr_succeed / dfr_fail): callbacks run as they are added\n");
    for (size_t i = 0; i < n; i++) {
        dfr_deferred *d = immediate_is_valid_user(users[i]);
        if (!d)
            return 1;
        dfr_deferred_add_callbacks(d, print_answer, print_error, (void *)users[i], NULL);
        dfr_deferred_unref(d);
    }

    printf("synchronousIsValidUser wrapped by dfr_maybe_deferred\n");
    for (size_t i = 0; i < n; i++) {
        dfr_deferred *d = dfr_maybe_deferred(synchronous_is_valid_user, (void *)users[i]);
        if (!d)
            return 1;
        dfr_deferred_add_callbacks(d, print_answer, print_error, (void *)users[i], NULL);
        dfr_deferred_unref(d);
    }

    dfr_trim();
    return 0;
}
