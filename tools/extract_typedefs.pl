#!/usr/bin/perl
# Print the typedef names declared in the given C files, one a line.
use strict;
use warnings;
my %seen;
for my $f (@ARGV)
{
	open(my $fh, '<', $f) or die "$f: $!\n";
	local $/;
	my $s = <$fh>;
	close $fh;
	$s =~ s{/\*.*?\*/}{ }gs;                 # block comments
	$s =~ s{//[^\n]*}{}g;                    # line comments
	$s =~ s{"(?:\\.|[^"\\\n])*"}{""}g;       # string literals
	$s =~ s{^[ \t]*#[^\n]*(?:\\\n[^\n]*)*}{}mg;  # preprocessor lines
	while ($s =~ /\btypedef\b/g)
	{
		my $start = pos($s);
		my ($depth, $i) = (0, $start);
		for (; $i < length $s; $i++)
		{
			my $c = substr($s, $i, 1);
			$depth++ if $c eq '{' || $c eq '(';
			$depth-- if $c eq '}' || $c eq ')';
			last if $c eq ';' && $depth == 0;
		}
		my $decl = substr($s, $start, $i - $start);
		pos($s) = $i;
		my $name;
		if ($decl =~ /^[^{]*?\(\s*\*\s*(\w+)\s*\)/s)    # function pointer
		{
			$name = $1;
		}
		else
		{
			$decl =~ s/\{.*\}/ /s;                # struct/union/enum body
			$decl =~ s/\[[^\]]*\]//g;             # array dimensions
			$decl =~ s/\([^)]*\)\s*$//s;          # function type params
			$name = $1 if $decl =~ /(\w+)\W*$/s;
		}
		print "$name\n" if defined $name && !$seen{$name}++;
	}
}
