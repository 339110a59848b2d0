/* placeholder: to be written */
typedef int conduit_placeholder_src_policy_json_c;
