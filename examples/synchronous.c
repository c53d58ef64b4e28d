/* "Generating Deferreds": returning deferreds from synchronous functions.
 * immediateIsValidUser answers with dfr_succeed; synchronousIsValidUser is a
 * plain function that dfr_maybe_deferred wraps for callers that expect a
 * deferred.  Callbacks added to an already-fired deferred run at once. */
#include <deferred.h>

#include <stdio.h>
#include <string.h>

static const char *const valid_users[] = {"Alice", "Angus", "Agnes"};

static bool is_valid(const char *user)
{
    for (size_t i = 0; i < sizeof valid_users / sizeof valid_users[0]; i++)
        if (strcmp(user, valid_users[i]) == 0)
            return true;
    return false;
}

/* The synchronous function: a plain answer. */
static dfr_value synchronous_is_valid_user(void *user)
{
    return dfr_i64(is_valid(user));
}

/* The same answer as a deferred that has already fired. */
static dfr_deferred *immediate_is_valid_user(const char *user)
{
    return dfr_succeed(dfr_i64(is_valid(user)));
}

static dfr_value print_answer(dfr_value v, void *user)
{
    printf("  %-6s -> %s\n", (const char *)user, v.u.i64 ? "valid" : "not valid");
    return v;
}

int main(void)
{
    const char *users[] = {"Alice", "Bob", "Agnes"};

    printf("immediateIsValidUser (dfr_succeed): callbacks run as they are added\n");
    for (int i = 0; i < 3; i++) {
        dfr_deferred *d = immediate_is_valid_user(users[i]);
        dfr_deferred_add_callback(d, print_answer, (void *)users[i], NULL);
        dfr_deferred_unref(d);
    }

    printf("synchronousIsValidUser through dfr_maybe_deferred\n");
    for (int i = 0; i < 3; i++) {
        dfr_deferred *d = dfr_maybe_deferred(synchronous_is_valid_user, (void *)users[i]);
        dfr_deferred_add_callback(d, print_answer, (void *)users[i], NULL);
        dfr_deferred_unref(d);
    }
    return 0;
}
