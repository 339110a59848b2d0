/* placeholder: to be written */
typedef int conduit_placeholder_src_common_conf_c;
