/* Fixtures shared by the chat and server tests. */
#ifndef DS4_TEST_CHAT_EXAMPLES_H
#define DS4_TEST_CHAT_EXAMPLES_H

/* chat-and-api.md example C: a thinking turn's output that ends in one DSML
 * tool call (read_file with a string and a non-string parameter). */
#define EX_C_OUT                                                                                    \
    "Need the file.</think>\n\n<｜DSML｜tool_calls>\n"                                              \
    "<｜DSML｜invoke name=\"read_file\">\n"                                                         \
    "<｜DSML｜parameter name=\"path\" string=\"true\">a.c</｜DSML｜parameter>\n"                    \
    "<｜DSML｜parameter name=\"max_lines\" string=\"false\">5</｜DSML｜parameter>\n"                \
    "</｜DSML｜invoke>\n"                                                                           \
    "</｜DSML｜tool_calls>"

#endif
