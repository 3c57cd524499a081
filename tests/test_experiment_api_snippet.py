from tests.helpers import load_experiment


def test_the_snippet_is_the_readmes_fit_block():
    """The block test_readme runs; the script keeps what it prints as the README's numbers."""
    code = load_experiment("api_snippet").snippet()
    assert "hyperzoo.fit(MyNet()" in code and "run.ood(" in code and code.count("print(") == 2
