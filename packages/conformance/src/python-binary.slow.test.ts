import { describeConformance } from "./describe-conformance.ts";

// The Python unit compiled to one executable with Nuitka (the template's "binary" command).
describeConformance("python-binary");
