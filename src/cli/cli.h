/* What every command of the ferry client shares: the command table entry,
 * the global flags, connecting to a remote, printing. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "args.h"
#include "client.h"
#include "output.h"

typedef struct FerryCli FerryCli;
typedef struct FerryCommand FerryCommand;

/* A command returns its exit status; a failure returns FERRY_EXIT_ERROR with
 * the error set, which main prints as "Error: <message>". */
#define FERRY_EXIT_ERROR (-1)

typedef int (*FerryCommandFunc) (FerryCli *cli, FerryArgs *args, GError **error);

struct FerryCommand
{
  const char *name;
  const char *const *aliases;
  const char *summary;
  const char *description; /* NULL = summary */
  const char *usage;       /* arguments after the command path */
  const char *examples;
  const FerryOption *options;
  FerryCommandFunc run;
  const FerryCommand *const *subcommands;
  int min_args; /* positional arguments, -1 = no check */
  int max_args; /* -1 = unlimited */
};

struct FerryCli
{
  gboolean quiet;
  gboolean verbose;
  gboolean debug;
  char *project;
  const char *command_path; /* "ferry config device add", for help */
  GHashTable *clients;      /* remote name -> FerryClient */
};

/* Connects (once) to the named remote. */
FerryClient *ferry_cli_client (FerryCli *cli, const char *remote, GError **error);

/* Parses "[remote:]name"; connects to the remote. */
FerryClient *ferry_cli_resolve (FerryCli *cli, const char *arg, char **name_out, GError **error);

/* One row of a list command's table, from one object of the collection
 * (NULL-terminated, the table takes it). */
typedef char **(*FerryListRow) (JsonObject *object);
/* `ferry X list [remote:]`: GETs COLLECTION?recursion=1 on the remote of
 * the first positional argument and prints it in the --format asked,
 * one ROW per object (sorted by its first column when SORT). */
int ferry_cli_list (FerryCli *cli, FerryArgs *args, const char *collection, const char *const *headers,
                    FerryListRow row, gboolean sort, GError **error);

/* lxc's argument-count error. */
void ferry_cli_usage_error (GError **error);

/* Prints a progress line (terminal only, overwritten in place) and clears it. */
void ferry_cli_progress (FerryCli *cli, const char *text);
void ferry_cli_progress_done (FerryCli *cli);
/* An operation progress callback for ferry_client_wait. */
void ferry_cli_operation_progress (JsonObject *operation, gpointer user_data);

/* Helpers to read API objects leniently (missing members give defaults). */
const char *ferry_obj_string (JsonObject *object, const char *member);
gint64 ferry_obj_int (JsonObject *object, const char *member);
gboolean ferry_obj_bool (JsonObject *object, const char *member);
JsonObject *ferry_obj_object (JsonObject *object, const char *member);
JsonArray *ferry_obj_array (JsonObject *object, const char *member);

/* A new object with the members of a string map sorted by key (Go encodes
 * maps sorted; ferryd may not). NULL → empty object. */
JsonNode *ferry_sorted_copy (JsonObject *object, gboolean recursive);

/* The command groups. */
extern const FerryCommand ferry_cmd_launch, ferry_cmd_init, ferry_cmd_start, ferry_cmd_stop, ferry_cmd_restart,
  ferry_cmd_pause, ferry_cmd_delete, ferry_cmd_rename;
extern const FerryCommand ferry_cmd_list;
extern const FerryCommand ferry_cmd_move, ferry_cmd_copy;
extern const FerryCommand ferry_cmd_info;
extern const FerryCommand ferry_cmd_exec;
extern const FerryCommand ferry_cmd_config;
extern const FerryCommand ferry_cmd_image;
extern const FerryCommand ferry_cmd_publish;
extern const FerryCommand ferry_cmd_profile;
extern const FerryCommand ferry_cmd_network;
extern const FerryCommand ferry_cmd_storage;
extern const FerryCommand ferry_cmd_project;
extern const FerryCommand ferry_cmd_warning;
extern const FerryCommand ferry_cmd_operation;
extern const FerryCommand ferry_cmd_file;
extern const FerryCommand ferry_cmd_console;
extern const FerryCommand ferry_cmd_snapshot, ferry_cmd_restore;
extern const FerryCommand ferry_cmd_report;
extern const FerryCommand ferry_cmd_export, ferry_cmd_import;
extern const FerryCommand ferry_cmd_remote;
extern const FerryCommand ferry_cmd_config_trust;
extern const FerryCommand ferry_cmd_config_metadata, ferry_cmd_config_template;

/* Opens $VISUAL, $EDITOR or /usr/bin/editor on TEXT; the edited text. */
char *ferry_cli_run_editor (const char *text, GError **error);

/* Sends an edited TEXT (YAML) back; DATA is the caller's. */
typedef gboolean (*FerryEditApply) (const char *text, gpointer data, GError **error);
/* The text an edit starts from (a GET), for the editor. */
typedef char *(*FerryEditInitial) (gpointer data, GError **error);
/* `ferry X edit`, as lxc: stdin's text when it is not a terminal (applied
 * once), else INITIAL's text in the editor until APPLY takes it; after an
 * error, Enter opens the editor again on what was written. */
int ferry_cli_edit (FerryEditInitial initial, FerryEditApply apply, gpointer data, GError **error);

/* `ferry report`'s file when --output is not given:
 * "ferry-report-<instance>-<YYYYmmdd-HHMMSS>.tar.gz". */
char *ferry_report_default_name (const char *instance, GDateTime *now);

/* `ferry operation show`: api.Operation as lxc prints it. */
char *ferry_operation_yaml (JsonObject *op);
