import { runNodeJs } from "@bufbuild/protoplugin";
import { protocGenStreamcmd } from "./plugin.js";

// The executable: reads a CodeGeneratorRequest on stdin, writes the response on stdout.
runNodeJs(protocGenStreamcmd);
