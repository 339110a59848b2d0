/* placeholder: to be written */
typedef int conduit_placeholder_src_mgmt_control_c;
