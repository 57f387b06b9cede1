import json

import pandas as pd
import pytest
from click.testing import CliRunner

from qsr_cli.main import cli
from qsr_graph.data import SequenceDataset

TRIVAGO_HEADER = ("user_id,session_id,timestamp,step,action_type,reference,platform,city,"
                  "device,current_filters,impressions,prices\n")
TRIVAGO_ROWS = [
    'u1,s1,100,1,search for destination,"Berlin, Germany",DE,"Berlin, Germany",desktop,,,',
    "u1,s1,101,2,interaction item image,11,DE,x,desktop,,,",
    "u1,s1,102,3,interaction item image,11,DE,x,desktop,,,",
    "u1,s1,103,4,clickout item,22,DE,x,desktop,,22|33,80|90",
    "u1,s1,104,5,filter selection,Sort by Price,DE,x,desktop,,,",
    "u1,s1,105,6,interaction item info,33,DE,x,desktop,,,",
    "u2,s2,100,1,clickout item,11,DE,x,mobile,,,",
    "u2,s2,101,2,clickout item,unknown,DE,x,mobile,,,",
    "u2,s2,102,3,clickout item,22,DE,x,mobile,,,",
]

STATS_TABLE = [
    "#Inter  #I  #S  #Q   A-I  A-S items  A-S events   A-Q  words/query  query events",
    "     3   3   1   1  1.00       3.00        4.00  1.00         2.00             1",
]


@pytest.fixture
def trivago_csv(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(TRIVAGO_HEADER + "\n".join(TRIVAGO_ROWS) + "\n")
    return path


@pytest.fixture
def prepared(tmp_path, trivago_csv):
    output = tmp_path / "prepared"
    result = CliRunner().invoke(cli, ["data", "prepare", "--format", "trivago",
                                      str(trivago_csv), "--output", str(output)])
    assert result.exit_code == 0, result.output
    return output


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_data_prepare_trivago(tmp_path, trivago_csv):
    output = tmp_path / "prepared"
    result = run("data", "prepare", "--format", "trivago", trivago_csv, "--output", output)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (f"Prepared 1 sequences (4 events, 3 items, 1 queries) in {output}")
    assert lines[1:3] == STATS_TABLE
    ds = SequenceDataset.load(output)
    assert ds.user_ids == ["u1"]
    assert ds.item_ids == ["11", "22", "33"]
    assert ds.query_texts == ["berlin germany"]
    assert ds.kinds.tolist() == [2, 1, 1, 1]
    assert ds.stats["dropped_rows"] == {"non-numeric item reference": 1,
                                        "action type without item or query": 1}


def test_data_prepare_options_reach_config(tmp_path, trivago_csv):
    output = tmp_path / "prepared"
    result = run("data", "prepare", "--format", "trivago", trivago_csv, "--output", output,
                 "--keep-repeats", "--min-user-items", 2, "--max-length", 4,
                 "--max-query-words", 1, "--by-session")
    assert result.exit_code == 0, result.output
    ds = SequenceDataset.load(output)
    assert ds.options == {"by_session": True, "keep_repeats": True, "min_user_items": 2,
                          "min_item_frequency": 1, "max_length": 4, "max_query_words": 1}
    assert ds.user_ids == ["u1/s1", "u2/s2"]
    assert ds.item_ids == ["11", "22", "33"]
    assert ds.tokens.tolist() == [0, 0, 0, 1, 2, 0, 1]
    assert ds.words == ["berlin"]
    assert ds.query_words.tolist() == [[0]]
    assert ds.offsets.tolist() == [0, 5, 7]


def test_data_prepare_events_format(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text("uid\tts\titem\tsearch\n"
                    "b\t2024-01-01T10:00:00\t\tRed Shoes\n"
                    "b\t2024-01-01T10:01:00\tshoe-1\t\n"
                    "a\t2024-01-01T09:00:00\tx\tcoffee\n"
                    "b\t2024-01-01T10:02:00\tshoe-2\tred shoes\n"
                    "a\t2024-01-01T09:05:00\ty\t\n"
                    "b\t2024-01-01T10:03:00\tshoe-1\t\n")
    output = tmp_path / "prepared"
    result = run("data", "prepare", "--format", "events", path, "--output", output,
                 "--user-column", "uid", "--time-column", "ts", "--item-column", "item",
                 "--query-column", "search", "--min-user-items", 2)
    assert result.exit_code == 0, result.output
    ds = SequenceDataset.load(output)
    assert ds.user_ids == ["a", "b"]
    assert ds.item_ids == ["x", "y", "shoe-1", "shoe-2"]
    assert ds.query_texts == ["coffee", "red shoes"]
    assert ds.kinds.tolist() == [2, 1, 1, 2, 1, 2, 1, 1]
    assert ds.tokens.tolist() == [0, 0, 1, 1, 2, 1, 3, 2]
    assert ds.times[:2].tolist() == [1704099600.0, 1704099600.0]


def test_data_prepare_events_needs_columns(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("uid,ts,item\nu1,1,a\n")
    output = tmp_path / "prepared"
    result = run("data", "prepare", "--format", "events", path, "--output", output,
                 "--time-column", "ts", "--item-column", "item")
    assert result.exit_code == 1
    assert result.output.startswith("Error: the events format needs the option user_column")
    assert "--user-column on the command line" in result.output
    assert not output.exists()


def test_data_prepare_missing_input(tmp_path):
    output = tmp_path / "prepared"
    result = run("data", "prepare", "--format", "trivago", tmp_path / "nope.csv",
                 "--output", output)
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path / 'nope.csv'}: input file not found\n"
    assert not output.exists()


def test_data_prepare_existing_output(tmp_path, trivago_csv):
    output = tmp_path / "prepared"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    result = run("data", "prepare", "--format", "trivago", trivago_csv, "--output", output)
    assert result.exit_code == 1
    assert result.output == (f"Error: {output}: output already exists; choose another "
                             f"folder or pass --force to replace it\n")
    assert (output / "keep.txt").read_text() == "mine"

    forced = run("data", "prepare", "--format", "trivago", trivago_csv, "--output", output,
                 "--force")
    assert forced.exit_code == 0, forced.output
    assert not (output / "keep.txt").exists()
    assert SequenceDataset.load(output).num_users == 1


@pytest.mark.parametrize("option, value, message", [
    ("--min-user-items", 1, "--min-user-items must be at least 2, got 1"),
    ("--max-length", 0, "--max-length must be at least 1, got 0"),
    ("--min-item-frequency", 0, "--min-item-frequency must be at least 1, got 0"),
    ("--max-query-words", -3, "--max-query-words must be at least 1, got -3"),
    ("--user-column", "uid",
     "--user-column can only be used with --format events, not trivago"),
])
def test_data_prepare_bad_option(tmp_path, trivago_csv, option, value, message):
    output = tmp_path / "prepared"
    result = run("data", "prepare", "--format", "trivago", trivago_csv, "--output", output,
                 option, value)
    assert result.exit_code == 1
    assert result.output == f"Error: {message}\n"
    assert not output.exists()


def test_data_prepare_wrong_format(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user,sku,category,query,click_time,query_time\n"
                    "u1,1,c,halo,2011-09-01 10:00:00.1,2011-09-01 10:00:00.0\n")
    output = tmp_path / "prepared"
    result = run("data", "prepare", "--format", "trivago", path, "--output", output)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}")
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


def test_data_prepare_nothing_left(tmp_path, trivago_csv):
    output = tmp_path / "prepared"
    result = run("data", "prepare", "--format", "trivago", trivago_csv, "--output", output,
                 "--min-user-items", 9)
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: no sequence has at least min_user_items=9 item events (out of 2 sequences")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


def test_data_stats_table(prepared):
    result = run("data", "stats", prepared)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == STATS_TABLE + [
        "rows dropped by the reader:",
        "  action type without item or query  1",
        "  non-numeric item reference         1",
        "events dropped while preparing:",
        "  query without words               0",
        "  repeated item                     1",
        "  repeated query                    0",
        "  rare item                         0",
        "  query after the last item         0",
        "  in a dropped sequence             2",
        "  older than the max_length window  0",
        "users dropped:",
        "  no item events                                   0",
        "  fewer item events than min_user_items            1",
        "  too few item events once rare items are dropped  0",
    ]


def test_data_stats_json(prepared):
    result = run("data", "stats", prepared, "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert [stats[k] for k in ("interactions", "items", "sequences", "queries")] == [3, 3, 1, 1]
    assert stats["events_per_sequence"] == 4.0
    assert stats["dropped_sequences"]["fewer item events than min_user_items"] == 1


def test_data_stats_not_a_dataset(tmp_path):
    result = run("data", "stats", tmp_path)
    assert result.exit_code == 1
    assert result.output == (f"Error: {tmp_path}: not a prepared qsr dataset (no "
                             f"manifest.json); create one with 'qsr data prepare'\n")


def test_data_export_recbole(prepared, tmp_path):
    output = tmp_path / "recbole" / "trip"
    result = run("data", "export", "--format", "recbole", prepared, "--output", output)
    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote 3 interactions of 1 sequences to {output / 'trip.inter'}\n"
    assert (output / "trip.inter").read_text() == (
        "user_id:token\titem_id:token\ttimestamp:float\tquery:token_seq\n"
        "u1\t11\t101.000\tberlin germany\n"
        "u1\t22\t103.000\tberlin germany\n"
        "u1\t33\t105.000\tberlin germany\n")


def test_data_export_existing_output(prepared, tmp_path):
    output = tmp_path / "trip"
    output.mkdir()
    result = run("data", "export", "--format", "recbole", prepared, "--output", output)
    assert result.exit_code == 1
    assert result.output == (f"Error: {output}: output already exists; choose another "
                             f"folder or pass --force to replace it\n")
    assert list(output.iterdir()) == []


def test_data_export_missing_dataset(tmp_path):
    output = tmp_path / "trip"
    result = run("data", "export", "--format", "recbole", tmp_path / "none", "--output", output)
    assert result.exit_code == 1
    assert "dataset folder not found" in result.output
    assert not output.exists()


@pytest.mark.parametrize("command", ["prepare", "stats", "export"])
def test_data_commands_have_help(command):
    result = run("data", command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output


# Bundled real data: counts checked against plain pandas ------------------------

TRIVAGO_ITEM_ACTIONS = ["clickout item", "interaction item image", "interaction item info",
                        "interaction item deals", "interaction item rating", "search for item"]
TRIVAGO_QUERY_ACTIONS = ["search for destination", "search for poi"]


def count_kept(events, user, item, min_items=3):
    """Collapse consecutive repeats of an item in each user's sorted event stream and
    return (kept users, their item events, their distinct items)."""
    same_user = events[user].eq(events[user].shift())
    repeat = same_user & events["is_item"] & events["is_item"].shift(fill_value=False) \
        & events[item].eq(events[item].shift())
    items = events[events["is_item"] & ~repeat]
    per_user = items.groupby(user).size()
    kept = per_user[per_user >= min_items]
    return len(kept), int(kept.sum()), items.loc[items[user].isin(kept.index), item].nunique()


def test_data_prepare_trivago_slice(tmp_path, trivago_path):
    output = tmp_path / "trivago"
    result = run("data", "prepare", "--format", "trivago", trivago_path, "--output", output,
                 "--max-length", 100000)
    assert result.exit_code == 0, result.output

    log = pd.read_parquet(trivago_path)
    is_item = log["action_type"].isin(TRIVAGO_ITEM_ACTIONS) & log["reference"].str.fullmatch(r"\d+")
    is_query = (log["action_type"].isin(TRIVAGO_QUERY_ACTIONS)
                & log["reference"].str.contains(r"[^\W_]"))
    events = log[is_item | is_query].assign(is_item=is_item[is_item | is_query])
    events = events.sort_values(["user_id", "timestamp", "step"], kind="stable")
    users, interactions, items = count_kept(events, "user_id", "reference")

    stats = json.loads(run("data", "stats", output, "--json").output)
    assert stats["sequences"] == users
    assert stats["interactions"] == interactions
    assert stats["items"] == items
    assert stats["dropped_rows"]["non-numeric item reference"] == int(
        (log["action_type"].isin(TRIVAGO_ITEM_ACTIONS) & ~is_item).sum())


def test_data_prepare_bestbuy_files(tmp_path, bestbuy_paths):
    output = tmp_path / "bestbuy"
    result = run("data", "prepare", "--format", "bestbuy", *bestbuy_paths, "--output", output)
    assert result.exit_code == 0, result.output

    rows = pd.concat([pd.read_csv(p, dtype=str) for p in bestbuy_paths], ignore_index=True)
    rows["row"] = range(len(rows))
    first = ~rows.duplicated(["user", "query", "query_time"])
    has_word = rows["query"].str.contains(r"[^\W_]")
    queries = pd.DataFrame({"user": rows["user"], "time": rows["query_time"],
                            "order": 2 * rows["row"], "sku": None, "is_item": False})
    clicks = pd.DataFrame({"user": rows["user"], "time": rows["click_time"],
                           "order": 2 * rows["row"] + 1, "sku": rows["sku"], "is_item": True})
    events = pd.concat([queries[first & has_word], clicks], ignore_index=True)
    events["time"] = pd.to_datetime(events["time"], format="ISO8601")
    events = events.sort_values(["user", "time", "order"], kind="stable")
    users, interactions, items = count_kept(events, "user", "sku")

    stats = json.loads(run("data", "stats", output, "--json").output)
    assert stats["sequences"] == users
    assert stats["interactions"] == interactions
    assert stats["items"] == items
