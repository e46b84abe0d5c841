from policies import rule_pack_docs

print(rule_pack_docs())
