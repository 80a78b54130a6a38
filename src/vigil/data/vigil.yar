// Vigil's own harmless YARA test rule: a file containing the ASCII text VIGIL-YARA-TEST-MARKER
// followed by "-2f9c41d7" is reported as YARA.Vigil_Test_YARA_Marker. The pattern is written as hex so that
// this rule file does not match itself.
rule Vigil_Test_YARA_Marker
{
    meta:
        author = "Vigil"
        description = "Harmless test marker for checking that YARA matching works end to end"
    strings:
        $marker = { 56 49 47 49 4C 2D 59 41 52 41 2D 54 45 53 54 2D 4D 41 52 4B 45 52 2D 32 66 39 63 34 31 64 37 }
    condition:
        $marker
}
